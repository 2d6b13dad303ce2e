"""A real single node per test, on free ports, in this process (cheap password hashing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploy.config import NodeConfig
from deploy.single_node import SingleNode, start_single_node


def node_config(tmp_path: Path) -> NodeConfig:
    return NodeConfig(
        data_dir=tmp_path / "data",
        ws_port=0,
        gateway_port=0,
        discovery_port=0,
        heartbeat_interval_ms=1_000,
        heartbeat_timeout_ms=5_000,
        push_log=False,
        password_hash_time_cost=1,
        password_hash_memory_kib=8,
        password_hash_parallelism=1,
    )


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[SingleNode]:
    running = await start_single_node(node_config(tmp_path))
    try:
        yield running
    finally:
        await running.stop()
