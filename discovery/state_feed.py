"""A session's state changes as async iterators: each listener hears every change from the
moment it asked (not from its first read), in order, and stops after LOST. Shared by the
memory and ZooKeeper ownership sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from kernel.ownership import SessionState


class StateFeed:
    def __init__(self) -> None:
        self._listeners: list[asyncio.Queue[SessionState]] = []
        self._lost = False

    def listen(self) -> AsyncIterator[SessionState]:
        queue: asyncio.Queue[SessionState] = asyncio.Queue()
        if self._lost:
            queue.put_nowait(SessionState.LOST)
        else:
            self._listeners.append(queue)
        return self._listen(queue)

    def publish(self, state: SessionState) -> None:
        self._lost = self._lost or state is SessionState.LOST
        for queue in self._listeners:
            queue.put_nowait(state)

    async def _listen(self, queue: asyncio.Queue[SessionState]) -> AsyncIterator[SessionState]:
        try:
            while True:
                state = await queue.get()
                yield state
                if state is SessionState.LOST:
                    return
        finally:
            if queue in self._listeners:
                self._listeners.remove(queue)
