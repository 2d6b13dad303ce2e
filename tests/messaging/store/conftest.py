"""`store`: every backend in turn (memory, SQLite on a fresh file), opened, closed after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from messaging.store.interface import MessageStore
from messaging.store.memory import MemoryStore
from messaging.store.sqlite import SqliteStore


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MessageStore]:
    backend: MessageStore = (
        MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "messages.db")
    )
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()
