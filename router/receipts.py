"""The receipt path: delivered/read cursors from many sessions -> one Messaging.UpdateCursors
per tick -> a Receipt frame for each moved cursor to the people who should see it, and one
answer per delivered/read frame (CursorsStored, or one Error) once all its cursors are done."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from kernel.background import BackgroundTask
from kernel.errors import HubbubError, Internal, InvalidArgument, Unavailable
from kernel.grpc_boundary import call
from kernel.limits import MAX_ID, MAX_RECEIPT_CURSORS
from protos import client_pb2, messaging_pb2
from router.context import RouterContext
from router.fanout import plan_fanout, receipt_audience
from router.frames import Origin, cursors_stored_frame, error_frame, error_frame_from_proto
from router.members import Members

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FrameAnswer:
    """One delivered/read frame: answered exactly once, when the last of its cursors is done
    (its cursors may span two UpdateCursors batches). The first refusal is the answer."""

    origin: Origin
    ref: int
    cursors: int
    remaining: int
    error: bytes | None = None

    def done(self, error: bytes | None = None) -> bytes | None:
        """One cursor finished (refused with `error`); the answer frame once all are."""
        if error is not None and self.error is None:
            self.error = error
        self.remaining -= 1
        if self.remaining:
            return None
        return self.error if self.error is not None else cursors_stored_frame(self.ref, self.cursors)


@dataclass(frozen=True, slots=True)
class PendingCursor:
    answer: FrameAnswer
    conversation_id: int
    kind: client_pb2.ReceiptKind.ValueType
    seq: int

    @property
    def origin(self) -> Origin:
        return self.answer.origin

    @property
    def ref(self) -> int:
        return self.answer.ref


class ReceiptPath:
    """One UpdateCursors call at a time; everything that queued meanwhile goes in the next one."""

    def __init__(self, ctx: RouterContext, max_pending: int = 100_000) -> None:
        self._ctx = ctx
        self._max_pending = max_pending  # cursors waiting while UpdateCursors stalls
        self._pending: list[PendingCursor] = []
        self._wake = asyncio.Event()
        self._worker = BackgroundTask("router-receipts", self._run)

    def start(self) -> None:
        self._worker.start()

    async def stop(self) -> None:
        await self._worker.stop()

    def submit(self, origin: Origin, frame: client_pb2.ClientFrame) -> None:
        if frame.HasField("read"):
            kind, cursors = client_pb2.RECEIPT_KIND_READ, frame.read.cursors
        else:
            kind, cursors = client_pb2.RECEIPT_KIND_DELIVERED, frame.delivered.cursors
        refused = _check(cursors)
        if refused is not None:  # the edge checks these too: a frame from elsewhere is refused whole
            self._ctx.reply(origin, error_frame(frame.ref, refused))
            return
        if len(self._pending) + len(cursors) > self._max_pending:
            # Messaging is not keeping up: refuse (retryable) rather than queue without bound.
            self._ctx.reply(origin, error_frame(frame.ref, Unavailable("router busy, retry")))
            return
        answer = FrameAnswer(origin, frame.ref, len(cursors), len(cursors))
        for cursor in cursors:
            self._pending.append(PendingCursor(answer, cursor.conversation_id, kind, cursor.seq))
        self._wake.set()

    async def _run(self) -> None:
        limit = self._ctx.config.max_batch
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:limit], self._pending[limit:]
                try:
                    await self._flush(batch)
                except Exception:  # keep the loop alive whatever one batch did
                    log.exception("receipts: a batch failed")

    async def _flush(self, batch: list[PendingCursor]) -> None:
        ctx = self._ctx
        request = messaging_pb2.CursorUpdates()
        add = request.updates.add
        for item in batch:
            add(
                user_id=item.origin.user_id,
                conversation_id=item.conversation_id,
                kind=item.kind,
                seq=item.seq,
            )
        try:
            reply, members = await asyncio.gather(
                call(ctx.messaging.UpdateCursors(request)),
                ctx.members.get_many({item.conversation_id for item in batch}),
            )
        except HubbubError as exc:
            self._fail(batch, exc)
            return
        except Exception:  # the call's boundary: every frame of the batch still gets its answer
            log.exception("receipts: UpdateCursors failed")
            self._fail(batch, Internal("internal error"))
            return
        results = reply.results
        moved: list[tuple[PendingCursor, int, set[str]]] = []
        users: set[str] = set()
        for index, item in enumerate(batch):
            if index >= len(results):
                self._done(item, error_frame(item.ref, Internal("cursor not acknowledged")))
                continue
            result = results[index]
            if result.HasField("error") and result.error.code:
                self._done(item, error_frame_from_proto(item.ref, result.error))
                continue
            self._done(item)  # stored: the answer goes out now, before the receipts' lookups
            if not result.moved:
                continue
            entry = members.get(item.conversation_id)
            if not isinstance(entry, Members):
                continue
            up_to = result.read_seq if item.kind == client_pb2.RECEIPT_KIND_READ else result.delivered_seq
            # Direct chats tell both members; only groups need the senders the receipt covers.
            covered = (
                ()
                if entry.kind == client_pb2.CONVERSATION_KIND_DIRECT
                else ctx.recent.senders_up_to(item.conversation_id, up_to)
            )
            audience = receipt_audience(entry.kind, entry.user_ids, item.origin.user_id, covered)
            users |= audience
            moved.append((item, up_to, audience))
        if not moved:
            return
        placement = await ctx.directory.lookup(users)
        for item, up_to, audience in moved:
            frame = client_pb2.ServerFrame()
            receipt = frame.receipt
            receipt.conversation_id = item.conversation_id
            receipt.user_id = item.origin.user_id
            receipt.kind = item.kind
            receipt.up_to_seq = up_to
            receipt.device_id = item.origin.device_id
            plan = plan_fanout(audience, placement, exclude=item.origin.key)
            ctx.links.send_plan(plan.targets, frame.SerializeToString())

    def _done(self, item: PendingCursor, error: bytes | None = None) -> None:
        answer = item.answer.done(error)
        if answer is not None:
            self._ctx.reply(item.origin, answer)

    def _fail(self, batch: list[PendingCursor], error: HubbubError) -> None:
        """The whole call failed: each frame still gets one answer (its first error)."""
        frames: dict[int, bytes] = {}
        for item in batch:
            data = frames.get(item.ref)
            if data is None:
                data = frames[item.ref] = error_frame(item.ref, error)
            self._done(item, data)


def _check(cursors: Sequence[client_pb2.ConversationCursor]) -> HubbubError | None:
    if not cursors:
        return InvalidArgument("cursors are required")
    if len(cursors) > MAX_RECEIPT_CURSORS:
        return InvalidArgument(f"more than {MAX_RECEIPT_CURSORS} cursors in one frame: split it")
    for cursor in cursors:
        if not 0 < cursor.conversation_id <= MAX_ID or cursor.seq > MAX_ID:
            return InvalidArgument(f"a cursor id out of range (1..{MAX_ID})")
    return None
