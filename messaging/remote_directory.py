"""The directory as a log writer outside messaging's process sees it (a partition-owning router
appending to Cassandra itself): existence and ends over GetConversation, and the ends raised
after each commit over RecordAppends, coalesced so concurrent commits share one call."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from kernel.errors import Internal, NotFound
from kernel.grpc_boundary import call
from kernel.messaging_api import MessagingApi
from messaging.model import Conversation, ConversationKind, ConversationSummary
from protos import client_pb2, messaging_pb2


class RemoteDirectory:
    """LogDirectory over messaging's rpcs. `record_appends` returns once messaging has the ends
    (the log awaits it before it acks, so lists, unread and resume never lag an ack); calls
    made while one is out are merged into the next (one in flight at a time)."""

    def __init__(self, messaging: MessagingApi) -> None:
        self._messaging = messaging
        self._pending: dict[int, tuple[int, int]] = {}
        self._next: asyncio.Future[None] | None = None  # answered when `_pending` is recorded
        self._sender: asyncio.Task[None] | None = None
        self.calls = 0
        """RecordAppends calls sent (a measure of the coalescing)."""

    async def get_conversation(self, conversation_id: int) -> Conversation | None:
        request = messaging_pb2.ConversationRequest(conversation_id=conversation_id)  # internal: no user
        try:
            found = await call(self._messaging.GetConversation(request))
        except NotFound:
            return None
        kind = (
            ConversationKind.GROUP
            if found.kind == client_pb2.CONVERSATION_KIND_GROUP
            else ConversationKind.DIRECT
        )
        return Conversation(
            found.conversation_id,
            kind,
            found.title,
            "",
            found.created_at_ms,
            found.last_seq,
            found.last_activity_ms,
        )

    async def record_appends(self, heads: Mapping[int, tuple[int, int]]) -> None:
        if not heads:
            return
        pending = self._pending
        for cid, (last, activity) in heads.items():
            was_last, was_activity = pending.get(cid, (0, 0))
            pending[cid] = (max(last, was_last), max(activity, was_activity))
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        answered = self._next
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_all(), name="record-appends")
        await asyncio.shield(answered)

    async def _send_all(self) -> None:
        answered: asyncio.Future[None] | None = None
        try:
            while self._pending:
                heads, self._pending = self._pending, {}
                answered, self._next = self._next, None
                assert answered is not None
                request = messaging_pb2.ConversationHeads()
                add = request.heads.add
                for cid, (last, activity) in heads.items():
                    add(conversation_id=cid, last_seq=last, last_activity_ms=activity)
                self.calls += 1
                try:
                    await call(self._messaging.RecordAppends(request))
                except Exception as exc:  # noqa: BLE001 - every waiter of this call gets it
                    answered.set_exception(exc)
                    answered.exception()  # retrieved: the waiters may all have gone
                else:
                    answered.set_result(None)
        finally:
            self._sender = None
            for left in (answered, self._next):  # cancelled (the router stops): no waiter hangs
                if left is not None and not left.done():
                    left.cancel()
            if self._next is not None and self._next.done():
                self._next, self._pending = None, {}

    async def list_conversations(
        self,
        user_id: str,
        limit: int,
        before_activity_ms: int = 0,
        before_conversation_id: int = 0,
        max_bytes: int = 0,
    ) -> list[ConversationSummary]:
        """Only resume lists conversations, and resume is messaging's, not a router's."""
        raise Internal("a router's log writer serves no resume: ask messaging")
