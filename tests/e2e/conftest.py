"""A real single node per test, on free ports, in this process."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploy.config import NodeConfig
from deploy.single_node import SingleNode, start_single_node
from router import MemoryPushNotifier

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


@pytest.fixture
async def node(tmp_path: Path, push: MemoryPushNotifier) -> AsyncIterator[SingleNode]:
    running = await start_single_node(config_for_tests(tmp_path), push=push)
    try:
        yield running
    finally:
        await running.stop()
