"""The directory as a router's log writer reaches it (messaging/remote_directory.py): the ends
of concurrent commits share RecordAppends calls (one in flight, the rest merged into the next,
never lowering a head), each caller returns only once its heads are recorded, and a failed
call fails exactly its own callers."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from kernel.errors import NotFound, Unavailable
from kernel.messaging_api import MessagingApi
from messaging.remote_directory import RemoteDirectory
from protos import client_pb2, messaging_pb2


class FakeMessaging:
    def __init__(self) -> None:
        self.recorded: list[dict[int, tuple[int, int]]] = []
        self.gate = asyncio.Event()
        self.fail_next = False

    def RecordAppends(self, request: messaging_pb2.ConversationHeads, *, timeout: float | None = None) -> Any:
        return self._record(request)

    async def _record(
        self, request: messaging_pb2.ConversationHeads
    ) -> messaging_pb2.ConversationHeadsRecorded:
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise Unavailable("messaging is down")
        self.recorded.append({h.conversation_id: (h.last_seq, h.last_activity_ms) for h in request.heads})
        return messaging_pb2.ConversationHeadsRecorded()

    def GetConversation(
        self, request: messaging_pb2.ConversationRequest, *, timeout: float | None = None
    ) -> Any:
        return self._get(request)

    async def _get(self, request: messaging_pb2.ConversationRequest) -> client_pb2.Conversation:
        if request.conversation_id != 7:
            raise NotFound("no such conversation")
        return client_pb2.Conversation(
            conversation_id=7, kind=client_pb2.CONVERSATION_KIND_GROUP, last_seq=41
        )


async def test_concurrent_commits_share_calls_and_each_waits_for_its_own() -> None:
    fake = FakeMessaging()
    directory = RemoteDirectory(cast(MessagingApi, fake))
    first = asyncio.create_task(directory.record_appends({1: (5, 100)}))
    await asyncio.sleep(0)  # the first call is out (held at the gate)
    later = [
        asyncio.create_task(directory.record_appends({1: (7, 120), 2: (1, 90)})),
        asyncio.create_task(directory.record_appends({1: (6, 130)})),
    ]
    await asyncio.sleep(0)
    assert not first.done() and not any(t.done() for t in later)
    fake.gate.set()
    await asyncio.gather(first, *later)
    assert fake.recorded == [{1: (5, 100)}, {1: (7, 130), 2: (1, 90)}]  # merged, never lowered
    assert directory.calls == 2


async def test_a_failed_call_fails_its_callers_and_the_next_goes_out() -> None:
    fake = FakeMessaging()
    fake.fail_next = True
    fake.gate.set()
    directory = RemoteDirectory(cast(MessagingApi, fake))
    with pytest.raises(Unavailable):
        await directory.record_appends({3: (2, 10)})
    await directory.record_appends({3: (2, 10)})  # the retry
    assert fake.recorded == [{3: (2, 10)}]


async def test_conversations_are_read_over_get_conversation() -> None:
    directory = RemoteDirectory(cast(MessagingApi, FakeMessaging()))
    found = await directory.get_conversation(7)
    assert found is not None and (found.conversation_id, found.last_seq) == (7, 41)
    assert await directory.get_conversation(8) is None
