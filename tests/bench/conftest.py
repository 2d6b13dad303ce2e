"""A real single node for the load generator's end-to-end test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploy.single_node import SingleNode, start_single_node
from tests.sdk.conftest import node_config


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[SingleNode]:
    running = await start_single_node(node_config(tmp_path))
    try:
        yield running
    finally:
        await running.stop()
