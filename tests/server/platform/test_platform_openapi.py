"""The platform's OpenAPI document says what the server does: schemathesis, every check, over
the whole API as an admin, finds no 5xx and no schema violation.

Bodies that fit the schema may still be refused (a name that is taken: 409; a user that does
not exist: 404; the last admin or owner: 422), and the stateful phase may revoke the admin's
key or make another admin and demote this one (401, 403), so ``positive_data_acceptance``
takes those statuses; every other expectation is schemathesis' own.
"""

from __future__ import annotations

import io
import tarfile

import schemathesis
from hypothesis import strategies as st
from platform_team import Team
from schemathesis.engine import events, from_schema

from fti.arrow_ipc import ARROW_STREAM, ONLINE_ROWS, to_stream
from support.imports import import_everything

import_everything("schemathesis")  # see support.imports

EXAMPLES = 6
SECONDS = 30


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# The upload bodies: valid ones, and any bytes.
schemathesis.openapi.media_type(
    ARROW_STREAM,
    st.one_of(
        st.just(to_stream(ONLINE_ROWS, {"key": ["a"], "event_time": [1], "value": ["{}"]})),
        st.binary(max_size=256),
    ),
)
schemathesis.openapi.media_type(
    "application/x-tar",
    st.one_of(st.just(_tar({"model.txt": b"weights"})), st.binary(max_size=1024)),
)


def test_schemathesis_with_all_checks_finds_nothing(team: Team) -> None:
    config = schemathesis.Config.from_dict(
        {
            "seed": 1,
            "max-time": SECONDS,
            "headers": team.headers("admin"),
            "generation": {"max-examples": EXAMPLES},
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]
                }
            },
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", team.app, config=config)
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
    assert {"POST /api/v1/keys", "PUT /api/v1/projects/{project}/members/{user}"} <= operations
    assert {"negative_data_rejection", "positive_data_acceptance", "ignored_auth"} <= checks
    assert {"response_schema_conformance", "status_code_conformance"} <= checks
