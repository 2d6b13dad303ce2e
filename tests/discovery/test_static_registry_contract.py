"""The static registry against the registry contract (the ZooKeeper one runs the same)."""

from __future__ import annotations

import pytest

from discovery.static import StaticRegistry
from tests.discovery.registry_contract import RegistryContract


class TestStaticRegistry(RegistryContract):
    @pytest.fixture
    def registry(self) -> StaticRegistry:
        return StaticRegistry()
