"""Shared fixtures: real stores under tmp_path, and the external services when present.

A test needing Redis or PostgreSQL reads its URL from the environment; when the service is
absent it skips with the reason, except under CI (``CI=true``) where it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import fti
from support.moto_server import MotoServer, ServerUnavailableError
from support.remote_stores import LiveServer

# Tests read the CLI's tables: rich sizes them to the terminal it finds (none under pytest-xdist's
# workers, where it falls back to 80 columns and cuts cells), so every run gets the same width.
os.environ["COLUMNS"] = "200"

REDIS_URL = os.environ.get("FTI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get(
    "FTI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def service_unavailable(what: str, url: str, exc: Exception) -> None:
    """Skip (or fail under CI) because a service the test needs cannot be reached."""
    message = f"{what} at {url} is not reachable ({exc}); set FTI_TEST_{what.upper()}_URL"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a live Redis server."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_unavailable("redis", REDIS_URL, exc)
    return REDIS_URL


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The URL of a live PostgreSQL server's maintenance database."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect():
            pass
        engine.dispose()
    except sa.exc.OperationalError as exc:
        service_unavailable("postgres", POSTGRES_URL, exc)
    return POSTGRES_URL


@contextlib.contextmanager
def new_postgres_database(server_url: str) -> Iterator[str]:
    """The URL of a fresh, empty database on the PostgreSQL server, dropped afterwards."""
    import sqlalchemy as sa

    name = f"fti_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        server_url.replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    base = server_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    with new_postgres_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API on loopback (moto's standalone server) for the whole session.

    The AWS variables every S3 client reads (delta-rs, Arrow, boto3) point at it; credentials
    are moto's fixed test ones. Under CI a server that cannot start fails the tests.
    """
    try:
        server = MotoServer()
    except ServerUnavailableError as exc:
        service_unavailable("s3", "moto_server", exc)
    url = server.url
    variables = {
        "AWS_ENDPOINT_URL": url,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield url
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


@pytest.fixture(scope="module")
def authenticating_s3() -> Iterator[tuple[str, str, str, str]]:
    """A moto server that checks credentials, for a test module: its URL, a bucket, a key id and
    its secret (tests of refused and missing credentials)."""
    import boto3

    try:
        server = MotoServer(authenticated_after=4)
    except ServerUnavailableError as exc:
        service_unavailable("s3", "moto_server", exc)
    try:
        # The 4 unauthenticated requests: a user, a key, a policy, a bucket.
        admin = {"endpoint_url": server.url, "region_name": "us-east-1"}
        iam = boto3.client("iam", **admin)
        iam.create_user(UserName="fti")
        key = iam.create_access_key(UserName="fti")["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="fti", PolicyName="all", PolicyDocument=json.dumps(policy))
        boto3.client(
            "s3",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
            **admin,
        ).create_bucket(Bucket="secured")
        yield server.url, "secured", key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        server.stop()


@pytest.fixture
def s3_url(s3_endpoint: str) -> str:
    """``s3://<a new bucket>/fti``: an empty prefix on the session's S3 server."""
    import boto3

    bucket = f"fti-test-{uuid.uuid4().hex[:16]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/fti"


@pytest.fixture(params=["sqlite", "redis"])
def online_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each online backend in turn: embedded SQLite, then Redis."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'online.db'}"
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
def project(tmp_path: Path, online_url: str) -> Iterator[fti.Project]:
    """A project in a fresh home, over each online backend; unique names keep Redis clean."""
    name = f"p{uuid.uuid4().hex[:12]}"
    with fti.connect(tmp_path / "home", name, online_url=online_url) as p:
        yield p
        for fg in p.feature_store.list_feature_groups():
            fg.delete()


@pytest.fixture(params=["sqlite", "redis", "server"])
def connected_project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[fti.Project]:
    """A project over each online backend, then through the session's fti server (one online
    backend there: the remote path is the same whichever the server uses). A test module
    runs over both connections by taking it as its ``project``."""
    name = f"p{uuid.uuid4().hex[:12]}"
    if request.param == "server":
        with fti.connect(request.getfixturevalue("fti_server_url"), name) as p:
            yield p
            for fg in p.feature_store.list_feature_groups():
                fg.delete()
        return
    online_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    with fti.connect(tmp_path / "home", name, online_url=online_url) as p:
        yield p
        for fg in p.feature_store.list_feature_groups():
            fg.delete()


@pytest.fixture
def offline_root(project: fti.Project, request: pytest.FixtureRequest) -> str:
    """Where ``project``'s offline tables are (through a server: in the server's store)."""
    if project.settings.url:
        server: LiveServer = request.getfixturevalue("fti_server")
        return server.settings.offline_url
    return project.settings.offline_url


@pytest.fixture
def fs(project: fti.Project) -> fti.FeatureStore:
    """The project's feature store."""
    return project.feature_store


@pytest.fixture(scope="session")
def fti_server(
    tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str, redis_url: str
) -> Iterator[LiveServer]:
    """One fti server of the session (uvicorn, authentication off: every caller is an admin)
    with its metadata in PostgreSQL and online rows in Redis, as a team's server runs, and
    its files in a folder of its own (tests reach into them to damage or vacuum files; the
    stores on S3 have contract suites of their own); tests use projects of their own."""
    from support.remote_stores import server_settings

    with new_postgres_database(postgres_server_url) as metadata_url:
        server = LiveServer(
            server_settings(
                tmp_path_factory.mktemp("fti_server"),
                metadata_url=metadata_url,
                online_url=redis_url,
            )
        )
        yield server
        server.stop()


@pytest.fixture(scope="session")
def fti_server_url(fti_server: LiveServer) -> str:
    """The URL of the session's fti server."""
    return fti_server.url
