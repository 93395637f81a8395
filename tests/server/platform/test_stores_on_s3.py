"""fti server over object storage, as a team runs it: a feature group's inserts, reads and
training data, and a model's files, through the server whose offline and artifact stores are on
an S3 API that checks credentials (moto), the server's own; the suites through the session's
server keep its files in a folder."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

import fti
from support.remote_stores import LiveServer, server_settings

ROWS = pd.DataFrame(
    {
        "city": ["oslo", "rome", "oslo"],
        "t": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-02"], utc=True),
        "temp": [-3.0, 12.5, -1.0],
    }
)


@pytest.fixture
def s3_server(
    authenticating_s3: tuple[str, str, str, str],
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[tuple[LiveServer, str, dict[str, str]]]:
    """A server whose offline and artifact stores are under a new prefix of the checking S3
    API, its prefix, and the S3 client's settings."""
    url, bucket, key_id, secret = authenticating_s3
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    prefix = uuid.uuid4().hex
    root = f"s3://{bucket}/{prefix}"
    server = LiveServer(
        server_settings(
            tmp_path / "server", offline_url=f"{root}/offline", artifacts_url=f"{root}/artifacts"
        )
    )
    client = {
        "endpoint_url": url,
        "aws_access_key_id": key_id,
        "aws_secret_access_key": secret,
        "region_name": "us-east-1",
    }
    try:
        yield server, f"{bucket}/{prefix}", client
    finally:
        server.stop()


def test_a_group_a_dataset_and_a_model_round_trip_through_a_server_on_s3(
    s3_server: tuple[LiveServer, str, dict[str, str]],
) -> None:
    server, where, client = s3_server
    with fti.connect(server.url, "p") as project:
        fs = project.feature_store
        temps = fs.create_feature_group("temps", primary_key=["city"], event_time="t")
        temps.insert(ROWS.iloc[:2])
        temps.insert(ROWS.iloc[1:])  # a merge on the table's S3 log
        assert sorted(temps.read()[["city", "temp"]].itertuples(index=False)) == [
            ("oslo", -3.0),
            ("oslo", -1.0),
            ("rome", 12.5),
        ]
        assert sorted(temps.read(0)["temp"]) == [-3.0, 12.5]  # time travel

        view = fs.create_feature_view("temps_view", query=temps.select(["temp"]))
        version = view.create_training_data()
        x, _ = view.get_training_data(version)
        assert sorted(x["temp"]) == [-3.0, -1.0, 12.5]

        classifier = DummyClassifier(strategy="constant", constant=1).fit([[0.0], [1.0]], [0, 1])
        model = project.model_registry.create_model("m").save(classifier)
        loaded = project.model_registry.get_model("m", version=model.version).load()
        assert loaded.predict([[0.0]]).tolist() == [1]

    bucket, prefix = where.split("/")
    listed = boto3.client("s3", **client).list_objects_v2(Bucket=bucket, Prefix=prefix)
    keys = [o["Key"][len(prefix) + 1 :] for o in listed.get("Contents", [])]
    assert any(k.startswith("offline/p/temps_v1/_delta_log/") for k in keys), keys
    assert any(k.startswith("offline/p/_training_data/") for k in keys), keys
    assert "artifacts/p/models/m/1/MANIFEST.json" in keys, keys
    home = Path(server.settings.home)
    assert not (home / "offline").exists() and not (home / "artifacts").exists()
