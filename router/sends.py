"""The send path: ClientFrame.send -> ordered, batched Messaging.Append (or, when this router
writes the log itself, router/owner_append.py) -> Sent ack to the sender, the message to every
other session of every member, pushes for offline members.

A delete_message takes the same path (it is a write to the conversation's log, ordered and
fenced like a message): its deletion entry goes to the deleter as the answer, to every other
session as message_deleted, and to nobody by push (docs/protocol.md, "deleteMessage")."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from kernel.errors import ErrorCode, HubbubError, Internal, InvalidArgument, Unavailable
from kernel.grpc_boundary import call
from kernel.limits import MAX_ID
from kernel.log_limit import LogAtMostEvery
from kernel.partitions import partition_of
from protos import client_pb2, messaging_pb2, router_pb2
from router import metrics
from router.context import RouterContext
from router.directory import Placement
from router.fanout import FanoutPlan, plan_fanout, without_session
from router.frames import Origin, deleted_frame, error_frame, error_frame_from_proto, sent_frame
from router.members import Members
from router.owner_append import append_as_owner
from router.pipeline import OrderedBatchPipeline
from router.push import PushNotification, preview_of
from router.tracing import inject, inject_each, span_from, spans_from, traced_here

log = logging.getLogger(__name__)
_no_members = LogAtMostEvery(log)  # once per member lookup failure would be once per message


class PendingSend(NamedTuple):
    """One per send: a tuple, at half a frozen dataclass's build cost."""

    origin: Origin
    frame: client_pb2.ClientFrame  # kept whole: ref, trace and the SendMessage, no copy
    partition: int
    epoch: int  # this router's epoch for the partition when it accepted the send
    reroutes: int  # as the edge sent it (echoed back if the send is refused)
    reroute_deadline_ms: int  # likewise
    accepted_ns: int  # metrics.now_ns() on arrival, for the latency histograms

    @property
    def conversation_id(self) -> int:
        return _conversation_of(self)


@dataclass(frozen=True, slots=True)
class AppendOutcome:
    results: list[messaging_pb2.AppendResult]
    members: Mapping[int, Members | HubbubError]
    placement: Placement


class SendPath:
    def __init__(self, ctx: RouterContext) -> None:
        self._ctx = ctx
        self.pipeline: OrderedBatchPipeline[PendingSend, AppendOutcome] = OrderedBatchPipeline(
            key=_conversation_of,
            run_batch=self._persist,
            deliver=self._fan_out,
            fail=self._fail,
            max_in_flight=ctx.config.max_appends_in_flight,
            max_batch=ctx.config.max_batch,
            min_interval_s=ctx.config.append_interval_ms / 1000,
            size=_append_bytes,
            sender=_sender_of,
            max_pending_per_sender=ctx.config.max_pending_per_sender,
        )

    def start(self) -> None:
        self.pipeline.start()

    async def stop(self) -> None:
        await self.pipeline.stop()

    def submit(
        self, origin: Origin, frame: client_pb2.ClientFrame, reroutes: int = 0, reroute_deadline_ms: int = 0
    ) -> None:
        conversation_id = _conversation_of_frame(frame)
        if not 0 < conversation_id <= MAX_ID:  # the edge checks it too
            self._ctx.reply(origin, error_frame(frame.ref, InvalidArgument("conversationId out of range")))
            return
        ownership = self._ctx.ownership
        partition = partition_of(conversation_id, ownership.partitions)
        epoch = ownership.epoch_of(partition)
        pending = PendingSend(
            origin, frame, partition, epoch, reroutes, reroute_deadline_ms, metrics.now_ns()
        )
        ownership.begin(partition)  # a planned handoff waits for it
        if not self.pipeline.submit(pending):
            # The store is not keeping up and the backlog is full: retryable, nothing stored.
            ownership.end(partition)
            self._ctx.reply(origin, error_frame(frame.ref, Unavailable("router busy, retry")))

    async def _persist(self, batch: list[PendingSend]) -> AppendOutcome:
        """One Append for the whole batch; members of its conversations fetched meanwhile, and
        their sessions looked up in one directory call, so delivery needs no more awaits."""
        ctx = self._ctx
        # A partition claimed a moment ago may still be sealing: no write before its Seal.
        await ctx.ownership.sealed({pending.partition for pending in batch})
        # A partition lost meanwhile (its session suspended): nothing more is written for it.
        keep = [ctx.ownership.still_owns(p.partition, p.epoch) for p in batch]
        owned = [p for p, kept in zip(batch, keep, strict=True) if kept]
        if not owned:
            return AppendOutcome([messaging_pb2.AppendResult() for _ in batch], {}, {})
        request = messaging_pb2.AppendRequest()
        add = request.items.add
        for pending in owned:
            frame = pending.frame
            if frame.HasField("delete_message"):
                add(
                    sender_id=pending.origin.user_id,
                    sender_device=pending.origin.device_id,
                    message=client_pb2.SendMessage(conversation_id=frame.delete_message.conversation_id),
                    owner_epoch=pending.epoch,
                    delete_seq=frame.delete_message.seq,
                )
                continue
            add(
                sender_id=pending.origin.user_id,
                sender_device=pending.origin.device_id,
                message=frame.send,
                owner_epoch=pending.epoch,
            )
        conversations = {pending.conversation_id for pending in batch}
        with spans_from("router.persist", [p.frame.trace for p in owned]) as spans:
            inject_each(spans, [item.trace for item in request.items])
            if ctx.log_writer is None:
                reply, members = await asyncio.gather(
                    call(ctx.messaging.Append(request)), ctx.members.get_many(conversations)
                )
                results = list(reply.results)
            else:  # this owner writes the log itself: members first, they decide who may send
                members = await ctx.members.get_many(conversations)
                results = await append_as_owner(ctx.log_writer, request, members)
        users: set[str] = set()
        for entry in members.values():
            if isinstance(entry, Members):
                users |= entry.user_ids
        try:
            placement = await ctx.directory.lookup(users)
        except Exception:  # the batch is stored: ack it, and recipients go to push
            log.exception("directory lookup failed after an Append; delivering by push only")
            placement = {}
        if len(owned) < len(batch) and len(results) == len(owned):
            # Realign with the batch: the left-out ones are handed back to the edge by _fan_out.
            stored = iter(results)
            results = [next(stored) if kept else messaging_pb2.AppendResult() for kept in keep]
        return AppendOutcome(results, members, placement)

    def _fan_out(self, batch: list[PendingSend], outcome: AppendOutcome) -> None:
        try:
            self._fan_out_owned(batch, outcome)
        finally:
            for pending in batch:
                self._ctx.ownership.end(pending.partition)

    def _fan_out_owned(self, batch: list[PendingSend], outcome: AppendOutcome) -> None:
        ctx = self._ctx
        results = outcome.results
        if len(results) != len(batch):
            log.error("Append answered %d results for %d items", len(results), len(batch))
        notifications: list[PushNotification] = []
        plans: dict[int, FanoutPlan] = {}  # per conversation, reused for each of its messages
        for index, pending in enumerate(batch):
            origin, ref = pending.origin, pending.frame.ref
            if index >= len(results):
                ctx.reply(origin, error_frame(ref, Internal("message not acknowledged by the store")))
                continue
            result = results[index]
            if not ctx.ownership.still_owns(pending.partition, pending.epoch):
                # Ownership was lost while the Append was out: no ack from a stale owner. The
                # edge re-sends it to the new owner; dedupe on client_msg_id makes that safe.
                ctx.ownership.refused += 1
                ctx.links.refuse(origin.edge_id, _edge_item(pending))
                continue
            if result.HasField("error"):
                if result.error.code == ErrorCode.STALE_OWNER.value:
                    # The store has the partition sealed at a newer epoch: we lost it.
                    ctx.ownership.lost(pending.partition)
                    ctx.ownership.refused += 1
                    ctx.links.refuse(origin.edge_id, _edge_item(pending))
                    continue
                ctx.reply(origin, error_frame_from_proto(ref, result.error))
                continue
            message = result.message
            deletion = message.deletes_seq != 0
            with span_from("router.ack", pending.frame.trace):
                if deletion:
                    ctx.reply(origin, deleted_frame(ref, message, traced_here()))
                else:
                    ctx.reply(origin, sent_frame(ref, message, result.duplicate, traced_here()))
            metrics.observe_ack(pending.accepted_ns)
            if result.duplicate and (
                not pending.reroutes or ctx.recent.pushed_from(message.conversation_id, message.seq)
            ):
                # A plain retry: fanned out when first stored. A re-routed one may have been
                # stored by an old owner whose fan-out never ran (a lost session, a handoff's
                # drain timeout): fan it out again, unless this owner pushed it or a later seq
                # already (it would arrive after that one: members catch up by Resume).
                continue
            ctx.recent.record(message.conversation_id, message.seq, message.sender_id)
            members = outcome.members.get(message.conversation_id)
            if not isinstance(members, Members):
                # Stored and acked; members unknown now. Recipients catch up through Resume.
                _no_members.warning("no members for conversation %d: %r", message.conversation_id, members)
                continue
            base = plans.get(message.conversation_id)
            if base is None:
                base = plans[message.conversation_id] = plan_fanout(members.user_ids, outcome.placement)
            plan = without_session(base, origin.key, message.sender_id, outcome.placement)
            frame = client_pb2.ServerFrame()
            (frame.message_deleted if deletion else frame.message).CopyFrom(message)
            fence = (pending.partition, pending.epoch)  # the edge drops it if a newer owner pushed
            if pending.frame.trace:
                with span_from("router.fanout", pending.frame.trace):
                    inject(frame.trace)
                    ctx.links.send_plan(plan.targets, frame.SerializeToString(), fence)
            else:
                ctx.links.send_plan(plan.targets, frame.SerializeToString(), fence)
            metrics.observe_delivery(
                pending.accepted_ns, len(plan.targets), sum(map(len, plan.targets.values()))
            )
            if plan.offline and not deletion:  # a deletion notifies nobody
                preview = preview_of(message)
                notifications.extend(
                    PushNotification(
                        user,
                        message.conversation_id,
                        message.seq,
                        message.message_id,
                        message.sender_id,
                        preview,
                        encrypted=not message.body,
                    )
                    for user in plan.offline
                )
        ctx.push.put_many(notifications)

    def _fail(self, batch: list[PendingSend], exc: Exception) -> None:
        for pending in batch:
            self._ctx.ownership.end(pending.partition)
        error = exc if isinstance(exc, HubbubError) else Internal("internal error")
        if not isinstance(exc, HubbubError):
            log.error("Append batch failed", exc_info=exc)
        frames: dict[int, bytes] = {}
        for pending in batch:
            ref = pending.frame.ref
            data = frames.get(ref)
            if data is None:
                data = frames[ref] = error_frame(ref, error)
            self._ctx.reply(pending.origin, data)


def _edge_item(pending: PendingSend) -> router_pb2.EdgeItem:
    origin = pending.origin
    item = router_pb2.EdgeItem(reroutes=pending.reroutes, reroute_deadline_ms=pending.reroute_deadline_ms)
    item.session.session_id = origin.session_id
    item.session.user_id = origin.user_id
    item.session.device_id = origin.device_id
    item.frame.CopyFrom(pending.frame)
    return item


def _conversation_of_frame(frame: client_pb2.ClientFrame) -> int:
    if frame.HasField("delete_message"):
        return frame.delete_message.conversation_id
    return frame.send.conversation_id


def _conversation_of(pending: PendingSend) -> int:
    return _conversation_of_frame(pending.frame)


def _append_bytes(pending: PendingSend) -> int:
    """An upper bound of what the send adds to an AppendRequest (the pipeline cuts batches by it)."""
    origin = pending.origin
    frame = pending.frame
    content = frame.delete_message.ByteSize() if frame.HasField("delete_message") else frame.send.ByteSize()
    return content + 4 * (len(origin.user_id) + len(origin.device_id)) + 32


def _sender_of(pending: PendingSend) -> str:
    return pending.origin.user_id
