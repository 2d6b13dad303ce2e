"""An in-memory MessageStore: the backend for unit tests and throwaway single-node runs. The
directory, the message log, the cursors and the push targets are one module each
(memory_directory.py, memory_log.py, memory_cursors.py, memory_push_targets.py) over one
shared MemoryData."""

from __future__ import annotations

from messaging.store.memory_cursors import MemoryCursors
from messaging.store.memory_directory import MemoryDirectory
from messaging.store.memory_log import MemoryLog
from messaging.store.memory_push_targets import MemoryPushTargets


class MemoryStore(MemoryDirectory, MemoryLog, MemoryCursors, MemoryPushTargets):
    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None
