"""The MessageStore contract against SqliteStore on a fresh file per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from messaging.store.interface import MessageStore
from messaging.store.sqlite import SqliteStore
from tests.messaging.store.contract import StoreContract


class TestSqliteContract(StoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[MessageStore]:
        store: MessageStore = SqliteStore(tmp_path / "messages.db")
        await store.open()
        try:
            yield store
        finally:
            await store.close()
