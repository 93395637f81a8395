"""A project for a team: three machines share nothing but URLs, and get the embedded results.

Three processes, each with its own empty local home, reach the same project through S3 (offline
tables, training datasets, model artifacts; a real moto server), PostgreSQL (metadata) and
Redis (online): the first runs the flights feature pipeline, the second the training pipeline,
the third batch predictions and a prediction server. Their training dataset and predictions
must equal those of the embedded single-folder run on the same data (a slice: Jan-Mar, and
Apr 1 live), and their local homes must hold nothing but caches.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import fti

pytest.importorskip("lightgbm")
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "flights"
FEATURES = ["--first", "2013-01-01", "--last", "2013-03-31"]
LIVE = "2013-04-01"
TRAINING = ["--validation-start", "2013-03-01", "--test-start", "2013-03-22", "--end", LIVE]
FLIGHT = "20130401_UA_1545_EWR"


def run(script: str, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def environment(home: Path, urls: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FTI_")}
    return base | {"FTI_HOME": str(home), "COLUMNS": "200"} | urls


def pipelines(env_a: dict[str, str], env_b: dict[str, str], project: str) -> None:
    """The feature pipeline (backfill, then a live day) and the training pipeline."""
    run("feature_pipeline.py", env_a, *FEATURES, "--project", project)
    run("feature_pipeline.py", env_a, "--day", LIVE, "--project", project)
    run("training_pipeline.py", env_b, *TRAINING, "--project", project)


def served(env: dict[str, str], project: str) -> dict[str, Any]:
    """One prediction of the flight over HTTP from `fti serve` as of the live day's evening."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        str(Path(sys.executable).with_name("fti")),
        "--project",
        project,
        "serve",
        "--model",
        "flight_delays@production",
        "--port",
        str(port),
        "--now",
        f"{LIVE}T23:00",
    ]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            assert server.stdout.readline().startswith("Serving"), "the server did not start"
            answer = httpx.post(
                f"http://127.0.0.1:{port}/v1/models/flight_delays/predict",
                json={"entries": [{"flight_id": FLIGHT}]},
                timeout=60,
            )
            assert answer.status_code == 200, answer.text
            result: dict[str, Any] = answer.json()
            return result
        finally:
            server.terminate()
            server.wait(timeout=30)


def results(project: fti.Project) -> tuple[str, dict[str, float]]:
    """The digest of the model's training dataset and each live flight's score."""
    model = project.model_registry.get_model("flight_delays", alias="production")
    lineage = model.lineage
    assert lineage is not None and lineage.training_dataset_version is not None
    dataset = model.feature_view().training_dataset(lineage.training_dataset_version)
    predictions = project.feature_store.get_feature_group("flight_delays_predictions").read()
    scores = dict(zip(predictions["flight_id"], predictions["score"], strict=True))
    return dataset.digest, scores


def local_files(home: Path) -> list[str]:
    """Files under ``home`` that are not in its cache folder."""
    return sorted(
        str(p.relative_to(home))
        for p in home.rglob("*")
        if p.is_file() and p.relative_to(home).parts[0] != "cache"
    )


@pytest.mark.slow
# Whole pipelines in subprocesses: their own timeouts bound it, not the suite's 300 s
# (under a load of 18 it took 300 s).
@pytest.mark.timeout(900)
def test_three_machines_sharing_urls_get_the_embedded_results(
    tmp_path: Path, s3_url: str, postgres_url: str, redis_url: str
) -> None:
    embedded_home = tmp_path / "embedded"
    embedded = environment(embedded_home, {})
    pipelines(embedded, embedded, "flights")
    run("batch_inference.py", embedded, "--day", LIVE, "--project", "flights")
    embedded_answer = served(embedded, "flights")

    # Redis is shared by every test: a project of its own keeps its online tables apart.
    project = f"team_{uuid.uuid4().hex[:8]}"
    urls = {
        "FTI_OFFLINE_URL": f"{s3_url}/offline",
        "FTI_ARTIFACTS_URL": f"{s3_url}/artifacts",
        "FTI_METADATA_URL": postgres_url,
        "FTI_ONLINE_URL": redis_url,
    }
    homes = {name: tmp_path / name for name in ("features", "training", "inference")}
    envs = {name: environment(home, urls) for name, home in homes.items()}
    pipelines(envs["features"], envs["training"], project)
    run("batch_inference.py", envs["inference"], "--day", LIVE, "--project", project)
    team_answer = served(envs["inference"], project)

    with fti.connect(embedded_home, "flights") as local:
        local_digest, local_scores = results(local)
    shared_connection = {name.removeprefix("FTI_").lower(): url for name, url in urls.items()}
    with fti.connect(tmp_path / "reader", project, **shared_connection) as shared:
        team_digest, team_scores = results(shared)
    assert team_digest == local_digest
    assert team_scores.keys() == local_scores.keys() and len(team_scores) > 500
    flights = sorted(local_scores)
    assert np.allclose([team_scores[f] for f in flights], [local_scores[f] for f in flights])
    assert team_answer["predictions"] == embedded_answer["predictions"]
    assert np.allclose(team_answer["probabilities"], embedded_answer["probabilities"])
    for name, home in homes.items():
        assert local_files(home) == [], f"the {name} machine wrote to its home"
