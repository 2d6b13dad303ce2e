"""Real Redis for the tests: one standalone server and one 3-master cluster per session
(started only when a test asks), and a fresh key namespace per test so tests never meet."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from deploy.local_servers.redis import RedisClusterNodes, RedisNode, start_redis, start_redis_cluster

REDIS_SETUPS = ("redis-standalone", "redis-cluster")


@dataclass(frozen=True)
class RedisTarget:
    """Where a backend under test connects, and the namespace its keys live under."""

    url: str
    cluster: bool
    namespace: str


@pytest.fixture(scope="session")
def redis_standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisNode]:
    node = start_redis(tmp_path_factory.mktemp("redis-standalone"))
    yield node
    node.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    cluster = start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisNode]:
    """A standalone server of the test's own, for fault tests that restart it."""
    node = start_redis(tmp_path_factory.mktemp("redis-restartable"))
    yield node
    node.stop()


@pytest.fixture
def redis_cluster_restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    """A cluster of the test's own, for fault tests that restart one of its masters."""
    cluster = start_redis_cluster(tmp_path_factory.mktemp("redis-cluster-restartable"))
    yield cluster
    cluster.stop()


def redis_target(request: pytest.FixtureRequest, setup: str) -> RedisTarget:
    """The target for `setup` (one of REDIS_SETUPS), starting its server on first use."""
    namespace = f"t{uuid.uuid4().hex[:12]}"
    if setup == "redis-standalone":
        node: RedisNode = request.getfixturevalue("redis_standalone")
        return RedisTarget(node.url, False, namespace)
    cluster: RedisClusterNodes = request.getfixturevalue("redis_cluster")
    return RedisTarget(cluster.url, True, namespace)
