"""Every delivered/read frame gets exactly one answer from the receipt path: CursorsStored once
all its cursors are stored, else one Error, however many cursors were refused and even when
its cursors span two UpdateCursors batches."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

from kernel.limits import MAX_RECEIPT_CURSORS
from protos import client_pb2, messaging_pb2
from router.context import RouterContext
from router.frames import Origin
from router.receipts import ReceiptPath

ORIGIN = Origin("edge-1", 7, "bob", "phone")


@dataclass
class _Config:
    max_batch: int


class _Messaging:
    """UpdateCursors refusing every conversation id above 100 (as NOT_FOUND)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def UpdateCursors(self, request: messaging_pb2.CursorUpdates) -> messaging_pb2.CursorResults:
        self.calls.append(len(request.updates))
        results = messaging_pb2.CursorResults()
        for update in request.updates:
            result = results.results.add(conversation_id=update.conversation_id, moved=False)
            if update.conversation_id > 100:
                result.error.code = "NOT_FOUND"
                result.error.message = "conversation not found"
        return results


class _Members:
    async def get_many(self, ids: object) -> dict[int, object]:
        return {}


class _Ctx:
    def __init__(self, max_batch: int) -> None:
        self.config = _Config(max_batch)
        self.messaging = _Messaging()
        self.members = _Members()
        self.answers: asyncio.Queue[client_pb2.ServerFrame] = asyncio.Queue()

    def reply(self, origin: Origin, frame: bytes) -> None:
        self.answers.put_nowait(client_pb2.ServerFrame.FromString(frame))


def _read(ref: int, cids: list[int]) -> client_pb2.ClientFrame:
    cursors = [client_pb2.ConversationCursor(conversation_id=c, seq=1) for c in cids]
    return client_pb2.ClientFrame(ref=ref, read=client_pb2.MarkRead(cursors=cursors))


async def _answers(ctx: _Ctx, count: int) -> list[client_pb2.ServerFrame]:
    async with asyncio.timeout(30):
        return [await ctx.answers.get() for _ in range(count)]


async def test_one_answer_per_frame_across_batches() -> None:
    ctx = _Ctx(max_batch=3)
    path = ReceiptPath(cast(RouterContext, ctx))
    path.start()
    try:
        path.submit(ORIGIN, _read(1, [1, 2]))
        path.submit(ORIGIN, _read(2, [3, 4, 5, 6]))  # split over two calls: answered after the last
        path.submit(ORIGIN, _read(3, [7, 200, 201, 202, 8]))  # three refused: one error
        answers = await _answers(ctx, 3)
    finally:
        await path.stop()
    assert [(a.ref, a.WhichOneof("kind")) for a in answers] == [
        (1, "cursors_stored"),
        (2, "cursors_stored"),
        (3, "error"),
    ]
    assert (answers[0].cursors_stored.cursors, answers[1].cursors_stored.cursors) == (2, 4)
    assert answers[2].error.code == "NOT_FOUND"
    assert ctx.answers.empty()
    assert sum(ctx.messaging.calls) == 11


async def test_frames_past_the_cap_are_refused_whole_without_a_call() -> None:
    ctx = _Ctx(max_batch=1000)
    path = ReceiptPath(cast(RouterContext, ctx))
    path.submit(ORIGIN, _read(4, list(range(1, MAX_RECEIPT_CURSORS + 2))))
    path.submit(ORIGIN, _read(5, [2**63]))
    (over, too_big) = await _answers(ctx, 2)
    assert (over.ref, over.error.code) == (4, "INVALID_ARGUMENT")
    assert (too_big.ref, too_big.error.code) == (5, "INVALID_ARGUMENT")
    assert ctx.messaging.calls == []
