"""The receipt path's backlog is bounded: while UpdateCursors stalls, cursors beyond the limit
are refused with a retryable UNAVAILABLE instead of queueing without bound."""

from __future__ import annotations

from typing import cast

from protos import client_pb2
from router.context import RouterContext
from router.frames import Origin
from router.receipts import ReceiptPath


class _Ctx:
    """Just what ReceiptPath.submit touches; the worker is never started."""

    def __init__(self) -> None:
        self.replies: list[tuple[Origin, bytes]] = []

    def reply(self, origin: Origin, frame: bytes) -> None:
        self.replies.append((origin, frame))


def _delivered(ref: int, count: int) -> client_pb2.ClientFrame:
    cursors = [client_pb2.ConversationCursor(conversation_id=c + 1, seq=1) for c in range(count)]
    return client_pb2.ClientFrame(ref=ref, delivered=client_pb2.AckDelivered(cursors=cursors))


async def test_cursors_past_the_limit_are_refused_with_unavailable() -> None:
    ctx = _Ctx()
    path = ReceiptPath(cast(RouterContext, ctx), max_pending=4)
    origin = Origin("edge-1", 7, "bob", "phone")
    path.submit(origin, _delivered(1, 3))
    assert ctx.replies == []
    path.submit(origin, _delivered(2, 2))  # 3 + 2 > 4: refused whole
    assert len(ctx.replies) == 1
    answer = client_pb2.ServerFrame.FromString(ctx.replies[0][1])
    assert (answer.ref, answer.error.code, answer.error.retryable) == (2, "UNAVAILABLE", True)
    path.submit(origin, _delivered(3, 1))  # 3 + 1 fits
    assert len(ctx.replies) == 1
