"""The MessageStore contract against MemoryStore."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from messaging.store.interface import MessageStore
from messaging.store.memory import MemoryStore
from tests.messaging.store.contract import StoreContract


class TestMemoryContract(StoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[MessageStore]:
        store: MessageStore = MemoryStore()
        await store.open()
        try:
            yield store
        finally:
            await store.close()
