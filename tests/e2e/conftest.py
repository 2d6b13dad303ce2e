"""A real single node per test, on free ports, in this process; or, with E2E_CLUSTER=1, a
2-edge / 2-router cluster of processes per test (tests/e2e/cluster_layout.py)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploy.cluster.launcher import start_cluster
from deploy.config import NodeConfig
from deploy.local_servers.zookeeper import ZooKeeperEnsemble
from deploy.single_node import SingleNode, start_single_node
from router import MemoryPushNotifier
from tests.e2e.cluster_layout import CLUSTER_ENV, ROLE_ENV, ClusterNode, cluster_config, fresh_root

ROUTERS_ENV = "HUBBUB_ROUTERS"  # what `hubbub up` reads too: child nodes follow


def config_for_tests(tmp_path: Path, **overrides: object) -> NodeConfig:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "ws_port": 0,
        "gateway_port": 0,
        "discovery_port": 0,
        "heartbeat_interval_ms": 1_000,
        "heartbeat_timeout_ms": 3_000,
        "presence_lease_ms": 3_000,
        "presence_debounce_ms": 200,
        "push_log": False,
        "processes": "one",  # in-process, so tests can hand the router a memory push backend
        # Cheap password hashing: tests sign up hundreds of users.
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 8,
        "password_hash_parallelism": 1,
        # HUBBUB_ROUTERS=2 runs the whole suite on two routers splitting the partitions.
        "routers": int(os.environ.get(ROUTERS_ENV, "1")),
        "metrics_port": -1,  # no Prometheus endpoint (its thread) per in-process test node
    }
    values.update(overrides)
    return NodeConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
async def push() -> MemoryPushNotifier:
    return MemoryPushNotifier()


ON_CLUSTER = os.environ.get(CLUSTER_ENV, "") == "1"

NOT_ON_CLUSTER = {
    # Single-node-only features: skipped on a cluster.
    "test_group_fanout.py::test_group_of_500_fans_out_once_in_order": pytest.mark.skip(
        reason="asserts offline pushes through the in-process MemoryPushNotifier handed to the "
        "single node's router; a cluster's router processes push through their own notifier"
    ),
    "test_delete_message.py::test_a_deletion_sends_no_offline_push": pytest.mark.skip(
        reason="reads the single node's in-process MemoryPushNotifier"
    ),
    "test_tracing.py::test_each_message_is_one_trace_across_the_hops": pytest.mark.skip(
        reason="reads the spans of every hop from this process's in-memory exporter; a "
        "cluster's hops run in other processes"
    ),
}
"""Tests that cannot pass on a cluster, with the reason (E2E_CLUSTER=1 only)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not ON_CLUSTER:
        return
    for item in items:
        mark = NOT_ON_CLUSTER.get(item.nodeid.removeprefix("tests/e2e/"))
        if mark is not None:
            item.add_marker(mark)


@pytest.fixture
async def node(
    tmp_path: Path, push: MemoryPushNotifier, request: pytest.FixtureRequest
) -> AsyncIterator[SingleNode]:
    if ON_CLUSTER:
        ensemble: ZooKeeperEnsemble = request.getfixturevalue("zookeeper")
        cluster = await asyncio.to_thread(
            start_cluster,
            cluster_config(tmp_path),
            zookeeper_hosts=ensemble.hosts,
            zookeeper_root=fresh_root(),
            role_env=ROLE_ENV,
        )
        try:
            yield ClusterNode(cluster)  # type: ignore[misc]  # the face the tests read
        finally:
            await asyncio.to_thread(cluster.stop)
        return
    running = await start_single_node(config_for_tests(tmp_path), push=push)
    try:
        yield running
    finally:
        await running.stop()
