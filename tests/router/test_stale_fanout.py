"""A router stops fanning out for a partition the moment it loses it (what it had queued for
the edges is dropped when taken for the stream), carries each fan-out's (partition, epoch) to
the edge, and releases a planned handoff only after its last fan-out went to the streams."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from discovery.memory_ownership import MemoryOwnership
from protos import client_pb2
from router.links import EdgeLink
from router.ownership import RouterPartitions
from router.recent import RecentSenders


def push(seq: int) -> bytes:
    frame = client_pb2.ServerFrame()
    frame.message.seq = seq
    return frame.SerializeToString()


async def test_a_queued_fan_out_of_a_lost_partition_is_not_written() -> None:
    before = REGISTRY.get_sample_value("hubbub_router_stale_fanout_dropped_total") or 0.0
    owned = {(0, 3)}
    link = EdgeLink("edge-1", owns=lambda partition, epoch: (partition, epoch) in owned)
    link.put([1], push(1), (0, 3))
    link.put([1], push(2), (1, 3))  # partition 1 was lost before the stream took it
    link.put([1], push(3))  # a reply: not fenced
    batch = await link.next_batch()
    assert batch is not None
    assert [client_pb2.ServerFrame.FromString(item.frame).message.seq for item in batch.items] == [1, 3]
    assert [(item.partition, item.owner_epoch) for item in batch.items] == [(0, 3), (0, 0)]
    assert link.stale == 1
    assert REGISTRY.get_sample_value("hubbub_router_stale_fanout_dropped_total") == before + 1  # scraped


async def test_flushed_waits_until_the_stream_took_what_was_queued() -> None:
    link = EdgeLink("edge-1")
    link.put([1], push(1), (0, 3))
    flushed = asyncio.ensure_future(link.flushed())
    await asyncio.sleep(0)  # let it start waiting (not a stand-in for an event: asserted next)
    assert not flushed.done()
    await link.next_batch()
    await asyncio.wait_for(flushed, 30)
    link.put([1], push(2))
    link.close()  # a closed link does not hold a handoff
    await asyncio.wait_for(link.flushed(), 30)


async def test_a_planned_handoff_releases_only_after_the_flush() -> None:
    ownership = MemoryOwnership(4)
    session = await ownership.open_session("r1", "127.0.0.1:1")
    gate = asyncio.Event()
    reached = asyncio.Event()

    async def flush() -> None:
        reached.set()
        await gate.wait()

    partitions = RouterPartitions(4, session, flush=flush)
    await partitions.take([0])
    handoff = asyncio.ensure_future(partitions.hand_off(0))
    await asyncio.wait_for(reached.wait(), 30)
    current = await ownership.current()
    assert current.owners[0] is not None, "not released before the fan-out went out"
    assert partitions.still_owns(0, current.owners[0].epoch), "its queued fan-out is still written"
    gate.set()
    await asyncio.wait_for(handoff, 30)
    assert (await ownership.current()).owners[0] is None
    assert not partitions.still_owns(0, current.owners[0].epoch)


def test_a_router_knows_whether_it_pushed_a_seq_or_a_later_one() -> None:
    # A re-routed duplicate is fanned out again only if the new owner has not pushed it or a
    # later seq (router/sends.py): else members would see it after that later one.
    recent = RecentSenders()
    assert not recent.pushed_from(1, 13)
    recent.record(1, 13, "ann")
    recent.record(1, 14, "bob")
    assert recent.pushed_from(1, 13) and recent.pushed_from(1, 14)
    assert not recent.pushed_from(1, 15) and not recent.pushed_from(2, 13)
    recent.forget_partitions({0}, 1)  # the partition was taken or dropped: nothing is known
    assert not recent.pushed_from(1, 13)
