"""The memory ownership backend against the ownership contract suite."""

from __future__ import annotations

import pytest

from discovery.memory_ownership import MemoryOwnership
from kernel.ownership import PartitionOwnership
from tests.discovery.ownership_contract import OwnershipContract, P


class TestMemoryOwnership(OwnershipContract):
    @pytest.fixture
    def backend(self) -> MemoryOwnership:
        return MemoryOwnership(P)

    async def expire(self, backend: PartitionOwnership, router_id: str) -> None:
        assert isinstance(backend, MemoryOwnership)
        backend.expire(router_id)

    async def suspend(self, backend: PartitionOwnership, router_id: str) -> None:
        assert isinstance(backend, MemoryOwnership)
        backend.suspend(router_id)

    async def resume(self, backend: PartitionOwnership, router_id: str) -> None:
        assert isinstance(backend, MemoryOwnership)
        backend.resume(router_id)
