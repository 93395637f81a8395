"""A real Ray cluster for the engine tests: a head and a worker node, each its own processes.

Started once per session after the S3 server, so that its workers inherit the S3 variables
(a real cluster's workers have their own credentials); shut down at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import fti

# Small nodes: one CPU each, the smallest object store Ray accepts; no dashboard.
NODE = {"num_cpus": 1, "object_store_memory": 80 * 2**20}


def import_ray() -> ModuleType:
    """Ray, or a skip with the reason (a failure under CI)."""
    try:
        import ray
    except ImportError as exc:
        message = f"ray is not importable ({exc}); install it with pip install 'fti[ray]'"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return ray


@pytest.fixture(scope="module")
def ray_cluster(s3_endpoint: str) -> Iterator[Any]:
    """This process connected to a two-node local Ray cluster, for one test module (Ray's
    threads in this process end with it, before other files of the same worker run)."""
    ray = import_ray()
    cluster = _start_cluster()
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def _start_cluster(attempts: int = 3) -> Any:
    """A head and a worker node, started again when a node did not register in time: Ray
    waits a fixed 30 s for a raylet, which a loaded 2-core machine has been seen to exceed."""
    from ray.cluster_utils import Cluster

    cluster = Cluster()
    try:
        cluster.add_node(**NODE, include_dashboard=False)
        cluster.add_node(**NODE)
    except Exception as exc:
        cluster.shutdown()
        if attempts == 1 or "timed out during startup" not in str(exc):
            raise
        return _start_cluster(attempts - 1)
    return cluster


@pytest.fixture
def ray_project(
    ray_cluster: Any, tmp_path: Path, s3_url: str, postgres_url: str, redis_url: str
) -> Iterator[fti.Project]:
    """A project on S3 (moto), PostgreSQL and Redis whose ray engine splits into 3 partitions."""
    name = f"p{uuid.uuid4().hex[:12]}"
    with fti.connect(
        tmp_path / "home",
        name,
        offline_url=s3_url,
        metadata_url=postgres_url,
        online_url=redis_url,
        ray_partitions="3",
    ) as project:
        yield project
        for fg in project.feature_store.list_feature_groups():
            fg.delete()
