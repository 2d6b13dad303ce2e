"""The ordering invariant of the send pipeline, with a fake append that completes batches out
of order: never two batches in flight for one conversation, outcomes delivered in order."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import pytest

from kernel.errors import Unavailable
from router.pipeline import OrderedBatchPipeline

Item = tuple[int, int]  # (conversation, n)
WAIT_S = 30.0


class Harness:
    """Holds each batch until the test releases it, in whatever order it likes."""

    def __init__(self, max_in_flight: int = 4, max_batch: int = 1000) -> None:
        self.held: list[tuple[list[Item], asyncio.Future[list[Item]]]] = []
        self.in_flight: set[int] = set()
        self.violations: list[str] = []
        self.delivered: dict[int, list[int]] = defaultdict(list)
        self.failed: list[Item] = []
        self.changed = asyncio.Condition()  # a batch arrived or an outcome was delivered
        self.pipeline: OrderedBatchPipeline[Item, list[Item]] = OrderedBatchPipeline(
            key=lambda item: item[0],
            run_batch=self.run_batch,
            deliver=self.deliver,
            fail=self.fail,
            max_in_flight=max_in_flight,
            max_batch=max_batch,
        )

    async def run_batch(self, items: list[Item]) -> list[Item]:
        conversations = {c for c, _ in items}
        overlap = conversations & self.in_flight
        if overlap:
            self.violations.append(f"conversations {overlap} already in flight")
        self.in_flight |= conversations
        future: asyncio.Future[list[Item]] = asyncio.get_running_loop().create_future()
        async with self.changed:
            self.held.append((items, future))
            self.changed.notify_all()
        try:
            return await future
        finally:
            self.in_flight -= conversations

    def deliver(self, items: list[Item], outcome: list[Item]) -> None:
        for conversation, n in outcome:
            self.delivered[conversation].append(n)
        asyncio.get_running_loop().create_task(self._notify())

    def fail(self, items: list[Item], exc: Exception) -> None:
        self.failed.extend(items)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    def finished(self) -> int:
        return sum(len(v) for v in self.delivered.values()) + len(self.failed)

    async def wait_held(self, count: int) -> None:
        async with asyncio.timeout(WAIT_S), self.changed:
            await self.changed.wait_for(lambda: len(self.held) >= count)

    async def wait_delivered(self, total: int) -> None:
        async with asyncio.timeout(WAIT_S), self.changed:
            await self.changed.wait_for(lambda: self.finished() >= total)


async def test_work_that_accumulated_goes_in_one_batch_across_conversations() -> None:
    h = Harness()
    h.pipeline.start()
    for n in range(5):
        for conversation in (1, 2, 3):
            h.pipeline.submit((conversation, n))
    await h.wait_held(1)
    items, future = h.held[0]
    assert len(items) == 15
    future.set_result(items)
    await h.wait_delivered(15)
    assert {c: v for c, v in h.delivered.items()} == {c: [0, 1, 2, 3, 4] for c in (1, 2, 3)}
    await h.pipeline.stop()


async def test_a_busy_conversation_waits_while_others_proceed() -> None:
    h = Harness()
    h.pipeline.start()
    h.pipeline.submit((1, 0))
    await h.wait_held(1)
    h.pipeline.submit((1, 1))  # conversation 1 is in flight: must wait
    h.pipeline.submit((2, 0))
    await h.wait_held(2)
    assert h.held[1][0] == [(2, 0)]
    h.held[1][1].set_result(h.held[1][0])
    await h.wait_delivered(1)
    assert len(h.held) == 2  # (1, 1) still waits for (1, 0)
    h.held[0][1].set_result(h.held[0][0])
    await h.wait_held(3)
    assert h.held[2][0] == [(1, 1)]
    h.held[2][1].set_result(h.held[2][0])
    await h.wait_delivered(3)
    assert h.delivered == {1: [0, 1], 2: [0]}
    assert not h.violations
    await h.pipeline.stop()


@pytest.mark.parametrize("seed", range(8))
async def test_out_of_order_completion_keeps_each_conversation_in_order(seed: int) -> None:
    rng = random.Random(seed)
    h = Harness(max_in_flight=4, max_batch=7)
    h.pipeline.start()
    counters: dict[int, int] = defaultdict(int)
    submitted = 0

    def unreleased() -> list[asyncio.Future[list[Item]]]:
        return [future for _, future in h.held if not future.done()]

    while True:
        for _ in range(rng.randint(1, 6) if submitted < 200 else 0):
            conversation = rng.randint(1, 6)
            h.pipeline.submit((conversation, counters[conversation]))
            counters[conversation] += 1
            submitted += 1

        def can_proceed(total: int = submitted) -> bool:
            return bool(unreleased()) or h.finished() == total

        async with asyncio.timeout(WAIT_S), h.changed:
            await h.changed.wait_for(can_proceed)
        if not unreleased():
            if submitted >= 200:
                break
            continue
        if submitted < 200 and len(unreleased()) < rng.randint(1, 4):
            # Keep several batches in flight; yield so the pipeline can take what was submitted.
            await asyncio.sleep(0)
            continue
        # Complete a random held batch, not necessarily the oldest; some fail as a whole.
        future = rng.choice(unreleased())
        items = next(i for i, f in h.held if f is future)
        if rng.random() < 0.1:
            future.set_exception(Unavailable("flaky store"))
        else:
            future.set_result(items)
    await h.wait_delivered(submitted)
    assert not h.violations
    assert len(h.held) > 20  # many batches really were in flight together
    failed: dict[int, set[int]] = defaultdict(set)
    for conversation, n in h.failed:
        failed[conversation].add(n)
    for conversation, count in counters.items():
        expected = [n for n in range(count) if n not in failed[conversation]]
        assert h.delivered[conversation] == expected
    await h.pipeline.stop()


async def test_paced_pipeline_starts_a_lone_item_at_once() -> None:
    """Pacing never delays the first batch after a quiet spell (an hour-long interval would)."""
    h = Harness()
    h.pipeline = OrderedBatchPipeline(
        key=lambda item: item[0],
        run_batch=h.run_batch,
        deliver=h.deliver,
        fail=h.fail,
        min_interval_s=3600.0,
    )
    h.pipeline.start()
    try:
        h.pipeline.submit((1, 0))
        async with asyncio.timeout(WAIT_S), h.changed:
            await h.changed.wait_for(lambda: len(h.held) == 1)
        assert h.held[0][0] == [(1, 0)]
    finally:
        await h.pipeline.stop()


async def test_paced_pipeline_gathers_work_arriving_within_the_interval() -> None:
    """Items submitted one loop turn apart right after a start share the next batch."""
    h = Harness()
    h.pipeline = OrderedBatchPipeline(
        key=lambda item: item[0],
        run_batch=h.run_batch,
        deliver=h.deliver,
        fail=h.fail,
        min_interval_s=2.0,
    )
    h.pipeline.start()
    try:
        h.pipeline.submit((1, 0))
        async with asyncio.timeout(WAIT_S), h.changed:
            await h.changed.wait_for(lambda: len(h.held) == 1)
        h.pipeline.submit((2, 0))
        for _ in range(5):
            await asyncio.sleep(0)  # loop turns in which an unpaced pipeline would start (2, 0)
        h.pipeline.submit((3, 0))
        async with asyncio.timeout(WAIT_S), h.changed:
            await h.changed.wait_for(lambda: len(h.held) == 2)
        assert sorted(h.held[1][0]) == [(2, 0), (3, 0)]
        for items, future in h.held:
            future.set_result(items)
    finally:
        await h.pipeline.stop()


async def test_backlog_is_bounded_while_the_store_stalls() -> None:
    """A stalled append must not let waiting items grow without bound: past `max_pending`
    submit refuses (the send path answers UNAVAILABLE), and accepts again once drained."""
    h = Harness()
    h.pipeline = OrderedBatchPipeline(
        key=lambda item: item[0],
        run_batch=h.run_batch,
        deliver=h.deliver,
        fail=h.fail,
        max_in_flight=1,
        max_pending=3,
    )
    h.pipeline.start()
    try:
        assert h.pipeline.submit((1, 0))
        await h.wait_held(1)  # in flight: no longer waiting
        assert [h.pipeline.submit((2, n)) for n in range(4)] == [True, True, True, False]
        assert h.pipeline.pending_count == 3
        h.held[0][1].set_result(h.held[0][0])
        await h.wait_held(2)
        assert h.held[1][0] == [(2, 0), (2, 1), (2, 2)]
        assert h.pipeline.pending_count == 0
        assert h.pipeline.submit((2, 3))
        h.held[1][1].set_result(h.held[1][0])
        await h.wait_held(3)
        h.held[2][1].set_result(h.held[2][0])
        await h.wait_delivered(5)
        assert h.delivered == {1: [0], 2: [0, 1, 2, 3]}
    finally:
        await h.pipeline.stop()


async def test_one_senders_backlog_is_bounded_while_others_still_queue() -> None:
    """A flooding sender fills only its own share of the backlog (regression: issue 7, #4)."""
    held = asyncio.Event()
    release = asyncio.Event()
    ran: list[list[tuple[str, int]]] = []

    async def run_batch(items: list[tuple[str, int]]) -> None:
        ran.append(items)
        held.set()
        await release.wait()

    pipeline: OrderedBatchPipeline[tuple[str, int], None] = OrderedBatchPipeline(
        key=lambda item: item[1],
        run_batch=run_batch,
        deliver=lambda items, outcome: None,
        fail=lambda items, exc: None,
        max_in_flight=1,
        max_pending=1000,
        sender=lambda item: item[0],
        max_pending_per_sender=10,
    )
    pipeline.start()
    assert pipeline.submit(("flooder", 1))
    async with asyncio.timeout(WAIT_S):
        await held.wait()  # the first batch is in flight; everything else waits
    accepted = sum(pipeline.submit(("flooder", 1)) for _ in range(100))
    assert accepted == 10, "the flooder's share of the backlog"
    assert all(pipeline.submit(("bystander", 2)) for _ in range(10)), "others still queue"
    release.set()
    await pipeline.stop()
