"""The receipt path: delivered/read cursors from many sessions -> one Messaging.UpdateCursors
per tick -> a Receipt frame for each moved cursor to the people who should see it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from kernel.background import BackgroundTask
from kernel.errors import HubbubError, Internal, Unavailable
from kernel.grpc_boundary import call
from protos import client_pb2, messaging_pb2
from router.context import RouterContext
from router.fanout import plan_fanout, receipt_audience
from router.frames import Origin, error_frame, error_frame_from_proto
from router.members import Members

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PendingCursor:
    origin: Origin
    ref: int
    conversation_id: int
    kind: client_pb2.ReceiptKind.ValueType
    seq: int


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
        if len(self._pending) + len(cursors) > self._max_pending:
            # Messaging is not keeping up: refuse (retryable) rather than queue without bound.
            self._ctx.reply(origin, error_frame(frame.ref, Unavailable("router busy, retry")))
            return
        for cursor in cursors:
            self._pending.append(PendingCursor(origin, frame.ref, cursor.conversation_id, kind, cursor.seq))
        if cursors:
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
        results = reply.results
        moved: list[tuple[PendingCursor, int, set[str]]] = []
        users: set[str] = set()
        for index, item in enumerate(batch):
            if index >= len(results):
                ctx.reply(item.origin, error_frame(item.ref, Internal("cursor not acknowledged")))
                continue
            result = results[index]
            if result.HasField("error") and result.error.code:
                ctx.reply(item.origin, error_frame_from_proto(item.ref, result.error))
                continue
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

    def _fail(self, batch: list[PendingCursor], error: HubbubError) -> None:
        answered: set[tuple[str, int, int]] = set()
        for item in batch:
            key = (item.origin.edge_id, item.origin.session_id, item.ref)
            if key not in answered:  # one error per request frame, not per cursor
                answered.add(key)
                self._ctx.reply(item.origin, error_frame(item.ref, error))
