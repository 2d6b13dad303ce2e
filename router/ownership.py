"""What this router owns: the partitions it has claimed (with their epochs), which of them are
sealed, which are leaving (a planned handoff), and how many accepted sends each still has in
flight. Every routed frame is checked here; what the router does not own is refused
STALE_OWNER (the edge re-routes it by a newer map).

No ownership service (`session` None, the old single router and tests) = every partition is
owned at epoch 0, unfenced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence

from grpc import aio

from kernel.backoff import backoff_delay
from kernel.errors import HubbubError, PartitionMismatch, StaleOwner, is_retryable
from kernel.grpc_boundary import error_from_rpc
from kernel.ownership import OwnershipLost, OwnershipSession, SessionState
from kernel.partitions import partition_of, user_partition
from protos import client_pb2, messaging_pb2

log = logging.getLogger(__name__)

Seal = Callable[[messaging_pb2.SealRequest], Awaitable[messaging_pb2.SealReply]]
Flush = Callable[[], Awaitable[None]]
"""Until what the router queued for the edges by now was handed to their streams
(LinkTable.flushed): a planned handoff's last fan-out goes out before its release."""
Forget = Callable[[set[int]], None]
"""Told the partitions this router takes or drops: what it cached about their conversations
(members, recent senders) may be stale by then, since another owner served them meanwhile."""

HANDOFF_DRAIN_TIMEOUT_S = 30.0
"""A planned handoff waits at most this long for the partition's in-flight sends (an Append
stuck that long fails on its own deadline anyway); then it releases all the same."""


def frame_partitions(frame: client_pb2.ClientFrame, user_id: str, partitions: int) -> set[int]:
    """The partitions a routed frame touches (the edge's routing rule, edge/routing.py)."""
    kind = frame.WhichOneof("kind")
    if kind == "send":
        return {partition_of(frame.send.conversation_id, partitions)}
    if kind == "delete_message":
        return {partition_of(frame.delete_message.conversation_id, partitions)}
    if kind == "typing":
        return {partition_of(frame.typing.conversation_id, partitions)}
    if kind == "update_group":
        return {partition_of(frame.update_group.conversation_id, partitions)}
    if kind in ("delivered", "read"):
        cursors = frame.delivered.cursors if kind == "delivered" else frame.read.cursors
        return {partition_of(c.conversation_id, partitions) for c in cursors}
    return {user_partition(user_id, partitions)}


class RouterPartitions:
    def __init__(
        self,
        partitions: int,
        session: OwnershipSession | None = None,
        seal: Seal | None = None,
        forget: Forget | None = None,
        rng: random.Random | None = None,
        seal_retry_s: float = 5.0,
        flush: Flush | None = None,
    ) -> None:
        """`seal_retry_s`: how long a claim's Seal is retried while messaging is unreachable
        (router option of that name); sends for the partition wait meanwhile."""
        self.partitions = partitions
        self.session = session
        self._seal = seal
        self._forget = forget
        self._rng = rng or random.Random()
        self._seal_retry_s = seal_retry_s
        self._flush = flush
        self._retake: asyncio.Task[None] | None = None
        self._retaking: list[int] = []  # what the retake under way takes back
        self._epochs: dict[int, int] = {}  # claimed -> epoch
        self._sealed: dict[int, asyncio.Event] = {}
        self._leaving: set[int] = set()
        self._in_flight: dict[int, int] = {}
        self._drained: dict[int, asyncio.Event] = {}
        self._watcher: asyncio.Task[None] | None = None
        self.refused = 0  # frames refused STALE_OWNER (observability)
        self.all_lost = asyncio.Event()  # set when a session change dropped everything

    @property
    def fenced(self) -> bool:
        return self.session is not None

    @property
    def seals(self) -> bool:
        """Whether its claims are sealed in the store (router option `seal`): without it an
        older owner's writes are not refused, so it may not share partitions with another router."""
        return self._seal is not None

    def start(self) -> None:
        if self.session is not None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch_session(self.session))

    async def stop(self) -> None:
        if self._retake is not None:
            self._retake.cancel()
            with contextlib.suppress(asyncio.CancelledError, HubbubError, OwnershipLost):
                await self._retake
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self.session is not None:
            await self.session.close()

    # ------------------------------------------------------------ the check on every frame

    def epoch_of(self, partition: int) -> int:
        """The epoch this router writes `partition` at; StaleOwner if it does not own it."""
        if self.session is None:
            return 0
        epoch = self._epochs.get(partition)
        if epoch is None or partition in self._leaving:
            raise StaleOwner(f"partition {partition} is not owned by this router")
        return epoch

    def check(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.epoch_of(partition)

    def still_owns(self, partition: int, epoch: int) -> bool:
        """After an Append: may its result be acked? Not once the partition was lost (a
        planned handoff waits for in-flight sends, so it keeps them)."""
        return self.session is None or self._epochs.get(partition) == epoch

    def owned(self) -> dict[int, int]:
        return dict(self._epochs)

    async def sealed(self, partitions: Iterable[int]) -> None:
        """Wait until each partition is sealed at its epoch (a send may arrive just after the
        claim, while the Seal call is still out)."""
        for partition in partitions:
            event = self._sealed.get(partition)
            if event is not None and not event.is_set():
                await event.wait()

    def begin(self, partition: int) -> None:
        self._in_flight[partition] = self._in_flight.get(partition, 0) + 1

    def end(self, partition: int) -> None:
        left = self._in_flight.get(partition, 0) - 1
        if left > 0:
            self._in_flight[partition] = left
            return
        self._in_flight.pop(partition, None)
        drained = self._drained.pop(partition, None)
        if drained is not None:
            drained.set()

    # ------------------------------------------------------------ claims and handoffs

    async def take(self, partitions: Sequence[int]) -> dict[int, int]:
        """Claim and seal partitions; returns partition -> epoch of those now owned."""
        if self.session is None:
            return {}
        session = self.session
        claimed: dict[int, int] = {}

        async def claim(partition: int, above: int = 0) -> None:
            epoch = await session.claim(partition, above)
            claimed[partition] = epoch
            self._epochs[partition] = epoch
            self._leaving.discard(partition)
            self._sealed.setdefault(partition, asyncio.Event())

        try:
            # Inside the try: a claim failing half way gives back the ones made so far
            # (claimed but never sealed, they would hold their sends forever).
            for partition in partitions:
                await claim(partition)
            # Before the first send is served (sends wait for the seal): another owner served
            # these partitions meanwhile, so what this router remembers of them may be stale.
            self._forget_cached(set(claimed))
            refused = await self._seal_all(claimed)
            if refused:
                # The store has sealed a higher epoch than our counter gave (it forgot it, e.g.
                # a restart after a handoff): claim once more above it, and seal that.
                for partition, sealed in refused.items():
                    await claim(partition, sealed)
                refused = await self._seal_all({p: claimed[p] for p in refused})
        except BaseException as exc:
            # Not sealed, so not served: give the claims back (a retry claims them again).
            if isinstance(exc, PartitionMismatch):
                log.error(
                    "router %s: not serving %d partitions: %s",
                    self.session.router_id,
                    len(claimed),
                    exc.message,
                )
            for partition in claimed:
                self._drop(partition)
                with contextlib.suppress(OwnershipLost):
                    await self.session.release(partition)
            raise
        for partition in refused:
            log.warning(
                "router %s: partition %d is sealed at a higher epoch: dropped",
                self.session.router_id,
                partition,
            )
            self._drop(partition)
            claimed.pop(partition, None)
            with contextlib.suppress(OwnershipLost):
                await self.session.release(partition)
        for partition in claimed:
            event = self._sealed.get(partition)
            if event is not None:
                event.set()
        return claimed

    async def _seal_all(self, claimed: dict[int, int]) -> dict[int, int]:
        """Seal every claim; the partitions the store had sealed higher, with that epoch.

        A retryable failure (the store unreachable) is retried with backoff for seal_retry_s,
        as long as the session is connected and every claim is still held; PARTITION_MISMATCH
        (this router's P is not the store's) and the rest are raised at once."""
        if self._seal is None or not claimed:
            return {}
        request = messaging_pb2.SealRequest(
            partitions=[messaging_pb2.PartitionEpoch(partition=p, epoch=e) for p, e in claimed.items()],
            partition_count=self.partitions,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._seal_retry_s
        attempt = 0
        while True:
            try:
                reply = await self._seal(request)
            except aio.AioRpcError as exc:
                error = error_from_rpc(exc)
                delay = backoff_delay(attempt, self._rng, cap_s=1.0)
                if not is_retryable(error.code) or loop.time() + delay > deadline:
                    raise error from exc
                if not self._still_claimed(claimed):
                    raise OwnershipLost("claims lost while sealing") from error
                log.info("router: Seal failed (%r): retrying in %.2f s", error, delay)
                await asyncio.sleep(delay)
                attempt += 1
                if not self._still_claimed(claimed):
                    raise OwnershipLost("claims lost while sealing") from error
                continue
            return {entry.partition: entry.epoch for entry in reply.refused}

    def _still_claimed(self, claimed: dict[int, int]) -> bool:
        session = self.session
        if session is None or session.state is not SessionState.CONNECTED:
            return False
        return all(self._epochs.get(p) == e for p, e in claimed.items())

    def _forget_cached(self, partitions: set[int]) -> None:
        if self._forget is not None and partitions:
            self._forget(partitions)

    async def hand_off(self, partition: int) -> None:
        """A planned handoff: refuse new frames for it at once, let the accepted sends finish
        and their fan-out reach the links' streams, then release (the next owner claims at a
        higher epoch and seals)."""
        if self.session is None:
            return
        if partition not in self._epochs:
            # The map names this router, but it does not serve the partition: a retake after
            # a suspension not done yet, or a release that failed. Give the claim up all the
            # same: nothing else would ever move it (the map would not change again).
            with contextlib.suppress(OwnershipLost):
                await self.session.release(partition)
            return
        self._leaving.add(partition)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HANDOFF_DRAIN_TIMEOUT_S):
                if self._in_flight.get(partition):
                    await self._drained.setdefault(partition, asyncio.Event()).wait()
                if self._flush is not None:
                    await self._flush()
        self._drop(partition)
        self._forget_cached({partition})
        with contextlib.suppress(OwnershipLost):
            await self.session.release(partition)

    def _drop(self, partition: int) -> None:
        self._epochs.pop(partition, None)
        self._leaving.discard(partition)
        event = self._sealed.pop(partition, None)
        if event is not None:
            event.set()  # waiters re-check ownership and see it gone

    def lost(self, partition: int) -> None:
        """The store refused our epoch (a newer owner sealed it): stop serving it, and give it
        up so the map stops naming this router for it."""
        if partition in self._epochs:
            log.warning("router: partition %d was sealed by a newer owner: dropped", partition)
            self._drop(partition)
            self._forget_cached({partition})
            if self.session is not None:
                task = asyncio.get_running_loop().create_task(self.session.release(partition))
                task.add_done_callback(_retrieved)

    def attach(self, session: OwnershipSession) -> None:
        """The session, once the router's Link target is known (before start)."""
        self.session = session

    def lose_all(self) -> None:
        """The session is suspended or lost: stop acking and writing for everything at once."""
        dropped = set(self._epochs)
        for partition in dropped:
            self._drop(partition)
        self._forget_cached(dropped)

    async def _watch_session(self, session: OwnershipSession) -> None:
        held: list[int] = []
        async for state in session.state_changes():
            if state is SessionState.CONNECTED:
                # Back within the session: its claims never went; take them again (same
                # epochs). In a task: the Seal may be retried a while, and a SUSPENDED meanwhile
                # must be acted on at once.
                if held:
                    self._retaking = held
                    self._retake = asyncio.get_running_loop().create_task(
                        self._take_again(session, held, self._retake)
                    )
                held = []
                continue
            log.warning(
                "router %s: ownership session %s: dropping every partition", session.router_id, state.value
            )
            # What it holds, and what a retake still under way was to take back.
            held = sorted({*held, *self._epochs, *self._retaking})
            self.lose_all()
            self.all_lost.set()
            if self._retake is not None:
                self._retake.cancel()  # its claims were just dropped; the next CONNECTED retakes

    async def _take_again(
        self, session: OwnershipSession, held: list[int], previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None:  # a cancelled retake gives its claims back first
            await asyncio.wait([previous])
        log.info("router %s: ownership session back: retaking %d partitions", session.router_id, len(held))
        try:
            await self.take(held)
        except OwnershipLost:
            pass
        except HubbubError as exc:
            # Not retaken (e.g. Seal unavailable for seal_retry_s): they stay given back.
            log.warning("router %s: retaking partitions failed: %r", session.router_id, exc)
        finally:
            if self._retaking is held:
                self._retaking = []


def _retrieved(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.info("router: releasing a partition lost to a newer owner failed: %r", task.exception())
