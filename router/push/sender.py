"""What one push service looks like to the dispatcher: send one push to one target, say how it
went. One module per service (fcm.py, apns.py, webpush.py); a memory sender for tests."""

from __future__ import annotations

import asyncio
from typing import Protocol

from kernel.push_targets import PushTarget
from router.push.rules import PushContent, SendResult, Verdict


class PushSender(Protocol):
    async def send(self, target: PushTarget, content: PushContent) -> SendResult:
        """Never raises for a failed send: a transport error is a RETRY verdict."""
        ...

    async def close(self) -> None: ...


class MemoryPushSender:
    """Records what it was asked to send; tests await a count instead of sleeping."""

    def __init__(self) -> None:
        self.sent: list[tuple[PushTarget, PushContent]] = []
        self._changed = asyncio.Condition()

    async def send(self, target: PushTarget, content: PushContent) -> SendResult:
        async with self._changed:
            self.sent.append((target, content))
            self._changed.notify_all()
        return SendResult(Verdict.SENT)

    async def wait_for(self, count: int) -> list[tuple[PushTarget, PushContent]]:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.sent) >= count)
            return list(self.sent)

    async def close(self) -> None:
        return None
