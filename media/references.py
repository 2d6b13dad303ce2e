"""Which uploads a stored message points to, read from messaging's history (its gRPC contract,
or the same servicer in process): what the sweep asks before it removes anything."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from kernel.grpc_boundary import call
from kernel.local_calls import Unary
from protos.client_pb2 import FetchHistory, HistoryDirection, HistoryPage
from protos.messaging_pb2 import HistoryRequest

HISTORY_PAGE = 100
"""Messages per History call (messaging's maximum)."""
HISTORY_TIMEOUT_S = 10.0


class MediaReferences(Protocol):
    async def referenced(
        self, conversation_id: int, uploader: str, keys: Collection[str], since_ms: int
    ) -> set[str]:
        """Those of `keys` (uploads of `uploader` to `conversation_id`, none stored before
        `since_ms`) that a stored message points to. Raises when it cannot tell: the sweep
        then keeps them all."""
        ...


class HistoryApi(Protocol):
    """The one method of kernel.messaging_api.MessagingApi the sweep needs."""

    @property
    def History(self) -> Unary[HistoryRequest, HistoryPage]: ...


class HistoryReferences:
    """Reads the conversation newest first, as its uploader (a member, who sent any message
    that points to the upload), back to `since_ms`: a message cannot point to an object
    stored after it was sent, so older pages cannot hold a reference."""

    def __init__(self, messaging: HistoryApi) -> None:
        self._messaging = messaging

    async def referenced(
        self, conversation_id: int, uploader: str, keys: Collection[str], since_ms: int
    ) -> set[str]:
        wanted, found = set(keys), set[str]()
        anchor = 0  # 0 = from the newest
        while wanted - found:
            query = FetchHistory(
                conversation_id=conversation_id,
                anchor_seq=anchor,
                direction=HistoryDirection.HISTORY_DIRECTION_BEFORE,
                limit=HISTORY_PAGE,
                newest_first=True,
            )
            request = HistoryRequest(user_id=uploader, query=query)
            page = await call(self._messaging.History(request, timeout=HISTORY_TIMEOUT_S))
            found.update(m.media.key for m in page.messages if m.HasField("media") and m.media.key in wanted)
            if not page.messages or not page.has_more or page.messages[-1].sent_at_ms < since_ms:
                return found
            anchor = page.messages[-1].seq
        return found
