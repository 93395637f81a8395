"""The OpenAPI document says what the server does: schemathesis, every check, finds nothing.

The whole document is fuzzed in-process (ASGI) through every phase (examples, coverage,
fuzzing, stateful) with every check schemathesis has (``--checks all``). One setting is
made explicit: JSON Schema cannot say that ``passed_features`` has one mapping per entry,
that a tensor's data matches its shape and datatype, or which keys an entry of a given model
takes, so a body that fits the schema may still be refused as invalid (422 on /v1, 400 on
/v2, with the reason); ``positive_data_acceptance`` takes those statuses for the POST
operations (and, stricter than its default, no 5xx). Every other expectation of every check
is schemathesis' own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.engine import events, from_schema
from served_model import BODY_LIMIT, MODEL, NOW, TEXT_MODEL

import fti
from fti.server import create_app
from support.imports import import_everything

import_everything("schemathesis")  # see support.imports

EXAMPLES = 6
SECONDS = 30


@pytest.fixture
def app(served_project: fti.Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[FastAPI]:
    monkeypatch.setenv("FTI_NOW", NOW.isoformat())
    app = create_app(served_project, [MODEL, TEXT_MODEL], max_body_bytes=BODY_LIMIT, log=False)
    with TestClient(app):  # runs the lifespan
        yield app


def test_schemathesis_with_all_checks_finds_nothing(app: FastAPI) -> None:
    config = schemathesis.Config.from_dict(
        {
            "seed": 1,
            "max-time": SECONDS,
            "generation": {"max-examples": EXAMPLES},
            "operations": [
                {
                    "include-method": "POST",
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "401", "403", "404", "409", "400", "422"]
                        }
                    },
                }
            ],
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    found: list[str] = []
    checks: set[str] = set()
    operations: set[str] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            operations.add(str(event.label))
            for results in event.recorder.checks.values():
                for check in results:
                    checks.add(check.name)
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        found.append(
                            f"{event.label} {check.name}: {failure.title}\n{failure.message}\n"
                            f"{check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError | events.FatalError):
            found.append(f"{type(event).__name__}: {event}")
    assert not found, "\n\n".join(dict.fromkeys(found))
    assert {"POST /v1/models/{name}/predict", "POST /v2/models/{name}/infer", "GET /metrics"} <= (
        operations
    )
    assert {"negative_data_rejection", "positive_data_acceptance", "unsupported_method"} <= checks
    assert {"response_schema_conformance", "status_code_conformance"} <= checks
