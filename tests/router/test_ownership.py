"""Routers that own partitions (router/ownership.py, router/handoff.py): a frame for a
partition the router does not own comes back to the edge STALE_OWNER; a claim is sealed
before the first Append, whose items carry the epoch; a planned handoff refuses new frames at
once and finishes what is in flight; a lost session acks nothing that was in flight."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest

from discovery.memory_ownership import MemoryOwnership
from kernel.errors import Conflict, InvalidArgument, PartitionMismatch, Unavailable
from kernel.partitions import partition_of
from protos import client_pb2
from router import MemoryPushNotifier, RouterConfig, RouterService, start_router
from router.handoff import LocalRouters
from tests.router.edge_client import FakeEdge, text_frame
from tests.router.fakes import FakeBackends

P = 8


@dataclass
class Two:
    ownership: MemoryOwnership
    routers: LocalRouters
    r1: RouterService
    r2: RouterService


@pytest.fixture
async def two(fakes: FakeBackends) -> AsyncIterator[Two]:
    ownership = MemoryOwnership(P)
    routers = LocalRouters(ownership)
    services = []
    for name in ("router-1", "router-2"):
        config = RouterConfig(
            router_id=name,
            messaging_target=fakes.messaging_service.target,
            presence_target=fakes.presence_service.target,
            partitions=P,
            append_interval_ms=0,
            max_appends_in_flight=1,  # a second batch waits behind the first: queued, not written
            seal=True,
        )
        services.append(
            await start_router(config, push=MemoryPushNotifier(), ownership=ownership, routers=routers)
        )
    try:
        yield Two(ownership, routers, services[0], services[1])
    finally:
        for service in services:
            await service.stop()


def conversations_on(
    fakes: FakeBackends, ownership: MemoryOwnership, router_id: str, count: int
) -> list[int]:
    """New direct conversations (alice, bob) whose partitions `router_id` owns now."""
    found: list[int] = []
    current = ownership._map
    while len(found) < count:
        cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_DIRECT, ["alice", "bob"])
        owner = current.owner(partition_of(cid, P))
        if owner is not None and owner.router_id == router_id:
            found.append(cid)
    return found


def sealing_config(fakes: FakeBackends) -> RouterConfig:
    """One router, P partitions, sealing its claims, appending at once."""
    return RouterConfig(
        router_id="router-1",
        messaging_target=fakes.messaging_service.target,
        presence_target=fakes.presence_service.target,
        partitions=P,
        append_interval_ms=0,
        seal=True,
    )


async def assert_a_send_is_acked(
    fakes: FakeBackends, ownership: MemoryOwnership, router: RouterService, client_msg_id: str
) -> None:
    (cid,) = conversations_on(fakes, ownership, "router-1", 1)
    edge = await edge_on(router)
    try:
        edge.send_frames(1, text_frame(cid, client_msg_id, "hello", ref=7))
        (sent,) = await edge.wait_kind(1, "sent")
        assert sent.ref == 7
    finally:
        await edge.abort()


async def edge_on(router: RouterService) -> FakeEdge:
    edge = await FakeEdge(router.target, "edge-1").connect()
    edge.open(1, "alice", "phone")
    edge.open(2, "bob", "phone")
    await edge.registered(1, 2)
    return edge


async def test_two_routers_split_the_partitions_and_seal_what_they_claim(
    fakes: FakeBackends, two: Two
) -> None:
    current = await two.ownership.current()
    held = {name: current.held_by(name) for name in ("router-1", "router-2")}
    assert sorted(len(h) for h in held.values()) == [P // 2, P // 2]
    assert held["router-2"].keys().isdisjoint(held["router-1"].keys())
    # Every partition was sealed at the epoch its owner holds it at (router-2's at a higher
    # epoch than router-1's first claim: it took them over by planned handoffs).
    for partitions in held.values():
        for partition, epoch in partitions.items():
            assert fakes.world.sealed[partition] == epoch
    assert all(epoch == 2 for epoch in held["router-2"].values())


async def test_a_frame_for_a_partition_it_does_not_own_is_handed_back_stale_owner(
    fakes: FakeBackends, two: Two
) -> None:
    (mine,) = conversations_on(fakes, two.ownership, "router-1", 1)
    (theirs,) = conversations_on(fakes, two.ownership, "router-2", 1)
    edge = await edge_on(two.r1)
    try:
        edge.send_frames(1, text_frame(theirs, "t1", "not yours", ref=7))
        (refused,) = await edge.wait_refused()
        assert refused.frame.ref == 7 and refused.frame.send.conversation_id == theirs
        assert refused.session.session_id == 1 and refused.session.user_id == "alice"
        assert not fakes.world.messages[theirs], "nothing stored by a router that does not own it"
        # The partitions it owns are served as ever, and the Append carries its epoch.
        edge.send_frames(1, text_frame(mine, "m1", "mine", ref=8))
        sent = await edge.wait_ref(1, 8)
        assert sent.sent.seq == 1
        epoch = (await two.ownership.current()).owner(partition_of(mine, P))
        assert epoch is not None and fakes.world.append_epochs[-1] == [epoch.epoch]
    finally:
        await edge.abort()


async def test_a_planned_handoff_refuses_new_frames_at_once_and_finishes_in_flight_ones(
    fakes: FakeBackends, two: Two
) -> None:
    (cid,) = conversations_on(fakes, two.ownership, "router-1", 1)
    partition = partition_of(cid, P)
    edge = await edge_on(two.r1)
    try:
        fakes.world.append_gate.clear()  # the store is slow: the first send stays in flight
        fakes.world.append_reached.clear()
        edge.send_frames(1, text_frame(cid, "a1", "in flight", ref=1))
        await fakes.world.append_reached.wait()
        move = asyncio.ensure_future(two.routers.move(partition, "router-2"))
        # The old owner refuses new frames for the partition at once...
        edge.send_frames(1, text_frame(cid, "a2", "during the handoff", ref=2))
        (refused,) = await edge.wait_refused()
        assert refused.frame.ref == 2
        assert not move.done(), "the handoff waits for the send in flight"
        fakes.world.append_gate.set()
        sent = await edge.wait_ref(1, 1)
        assert sent.sent.seq == 1, "the in-flight send is acked by the old owner"
        owner = await move
        assert owner.router_id == "router-2" and owner.epoch > 1
        assert fakes.world.sealed[partition] == owner.epoch
        # The new owner serves it: the edge's re-send of a2 lands once.
        edge2 = await edge_on(two.r2)
        try:
            edge2.send_frames(1, text_frame(cid, "a2", "during the handoff", ref=2))
            resent = await edge2.wait_ref(1, 2)
            assert resent.sent.seq == 2
            assert fakes.world.append_epochs[-1] == [owner.epoch]
        finally:
            await edge2.abort()
        assert [m.client_msg_id for m in fakes.world.messages[cid]] == ["a1", "a2"]
    finally:
        await edge.abort()


async def test_a_lost_session_acks_nothing_in_flight(fakes: FakeBackends, two: Two) -> None:
    (cid,) = conversations_on(fakes, two.ownership, "router-1", 1)
    edge = await edge_on(two.r1)
    try:
        fakes.world.append_gate.clear()
        fakes.world.append_reached.clear()
        edge.send_frames(1, text_frame(cid, "x1", "lost", ref=3))
        await fakes.world.append_reached.wait()
        two.ownership.suspend("router-1")  # the session is suspended: stop acking at once
        await two.r1.core.ctx.ownership.all_lost.wait()
        assert not two.r1.core.ctx.ownership.owned()
        fakes.world.append_gate.set()
        (refused,) = await edge.wait_refused()
        assert refused.frame.ref == 3, "handed back for a re-send, not acked"
        assert not edge.of_kind(1, "sent")
        # A frame arriving now is refused as well: it owns nothing.
        edge.send_frames(1, text_frame(cid, "x2", "after", ref=4))
        assert len(await edge.wait_refused(2)) == 2
    finally:
        await edge.abort()


async def test_a_lost_session_writes_nothing_more_for_sends_still_queued(
    fakes: FakeBackends, two: Two
) -> None:
    first, second = conversations_on(fakes, two.ownership, "router-1", 2)
    (theirs,) = conversations_on(fakes, two.ownership, "router-2", 1)
    edge = await edge_on(two.r1)
    try:
        fakes.world.append_gate.clear()
        fakes.world.append_reached.clear()
        edge.send_frames(1, text_frame(first, "q1", "in flight", ref=1))
        await fakes.world.append_reached.wait()
        # Queued behind it; the refusal of the frame after it proves the router took it.
        edge.send_frames(
            1, text_frame(second, "q2", "queued", ref=2), text_frame(theirs, "q3", "not ours", ref=3)
        )
        await edge.wait_refused(1)
        two.ownership.suspend("router-1")
        await two.r1.core.ctx.ownership.all_lost.wait()
        appends = len(fakes.world.append_epochs)
        fakes.world.append_gate.set()
        refused = await edge.wait_refused(3)
        assert sorted(item.frame.ref for item in refused) == [1, 2, 3]
        assert len(fakes.world.append_epochs) == appends, "the queued send was never written"
        assert not fakes.world.messages[second] and not edge.of_kind(1, "sent")
    finally:
        await edge.abort()


async def test_after_a_restart_that_followed_handoffs_every_partition_is_owned_again(
    fakes: FakeBackends,
) -> None:
    """The store's seals outlive the in-memory epoch counter: a router starting after earlier
    handoffs (partitions sealed at epoch 3) claims above the sealed epoch instead of dropping
    them, so no partition is left without an owner, and sends there are acked."""
    for partition in range(0, P, 2):
        fakes.world.sealed[partition] = 3
    config = sealing_config(fakes)
    ownership = MemoryOwnership(P)  # a fresh process: its counter starts at 0
    router = await start_router(
        config, push=MemoryPushNotifier(), ownership=ownership, routers=LocalRouters(ownership)
    )
    try:
        held = (await ownership.current()).held_by("router-1")
        assert sorted(held) == list(range(P)), "every partition has its owner back"
        assert all(held[p] > 3 for p in range(0, P, 2)) and all(held[p] == 1 for p in range(1, P, 2))
        assert all(fakes.world.sealed[p] == held[p] for p in range(P))
        await assert_a_send_is_acked(fakes, ownership, router, "after-restart")
    finally:
        await router.stop()


async def test_a_claim_failing_half_way_gives_back_what_it_had_claimed(two: Two) -> None:
    """Claimed but never sealed, a partition would hold its sends forever: a take that fails
    part-way releases every partition it claimed."""
    partitions = two.r1.core.ctx.ownership
    session = partitions.session
    assert session is not None
    moving = sorted((await two.ownership.current()).held_by("router-2"))[:3]
    for partition in moving:  # router-2 gives three up
        await two.r2.core.ctx.ownership.hand_off(partition)
    two.ownership._holders[moving[2]] = two.r2.core.ctx.ownership.session  # type: ignore[assignment]
    with pytest.raises(Conflict):
        await partitions.take(moving)
    owners = await two.ownership.current()
    for partition in moving[:2]:
        assert partition not in partitions.owned() and owners.owner(partition) is None


async def test_a_failed_retake_does_not_stop_the_router_hearing_its_session(
    fakes: FakeBackends, two: Two
) -> None:
    """Back from SUSPENDED, the retake's Seal fails (the store unreachable): the partitions stay
    given back, and a later SUSPENDED is still acted on (the watcher lives on)."""
    partitions = two.r1.core.ctx.ownership
    two.ownership.suspend("router-1")
    await partitions.all_lost.wait()
    fakes.world.seal_error = Unavailable("store is down")
    partitions.all_lost.clear()
    two.ownership.resume("router-1")
    await fakes.world.seal_failed.wait()  # the retake was tried, and failed
    two.ownership.suspend("router-1")
    async with asyncio.timeout(10):
        await partitions.all_lost.wait()
    assert not partitions.owned()


async def test_a_seal_that_fails_for_a_while_is_retried_and_the_partitions_are_served(
    fakes: FakeBackends,
) -> None:
    """Review finding 1: a Seal failing UNAVAILABLE (messaging restarting) used to give the
    partitions back at once, leaving them unowned. It is retried with backoff while the claim
    is held, the Seal says this router's P, and sends there are acked once it is sealed."""
    fakes.world.seal_failures = 2
    config = sealing_config(fakes)
    ownership = MemoryOwnership(P)
    router = await start_router(
        config, push=MemoryPushNotifier(), ownership=ownership, routers=LocalRouters(ownership)
    )
    try:
        held = (await ownership.current()).held_by("router-1")
        assert sorted(held) == list(range(P)), "every partition owned after the retries"
        assert all(fakes.world.sealed[p] == held[p] for p in range(P))
        assert fakes.world.seal_failures == 0 and set(fakes.world.seal_counts) == {P}
        await assert_a_send_is_acked(fakes, ownership, router, "after-retry")
    finally:
        await router.stop()


async def test_sends_wait_while_a_retake_seal_is_retried_then_are_acked(
    fakes: FakeBackends, two: Two
) -> None:
    """Back from SUSPENDED, the retake's Seal fails at first: the partitions stay claimed and
    their sends wait (they are not refused back to the edge), then are acked once sealed."""
    (cid,) = conversations_on(fakes, two.ownership, "router-1", 1)
    partitions = two.r1.core.ctx.ownership
    edge = await edge_on(two.r1)
    try:
        two.ownership.suspend("router-1")
        await partitions.all_lost.wait()
        fakes.world.seal_error = Unavailable("store is down")
        fakes.world.seal_failed.clear()
        two.ownership.resume("router-1")
        await fakes.world.seal_failed.wait()  # the retake claimed, and its Seal failed
        assert partition_of(cid, P) in partitions.owned(), "still claimed while the Seal is retried"
        edge.send_frames(1, text_frame(cid, "w1", "waits for the seal", ref=5))
        fakes.world.seal_error = None  # the store is back: the next retry seals
        sent = await edge.wait_ref(1, 5)
        assert sent.sent.seq == 1 and not edge.refused
    finally:
        await edge.abort()


async def test_a_router_that_takes_a_partition_back_does_not_fan_out_to_a_stale_member_list(
    fakes: FakeBackends, two: Two
) -> None:
    """Review finding 2: router-1 cached a group's members, lost the partition, and the group
    changed under router-2 (which router-1 never heard); taking it back, router-1 must fetch
    the members again, not deliver to someone who left."""
    cid = conversations_on(fakes, two.ownership, "router-1", 1)[0]
    conv = fakes.world.conv(cid)
    conv.kind = client_pb2.CONVERSATION_KIND_GROUP
    conv.members["carol"] = client_pb2.ROLE_MEMBER
    partition = partition_of(cid, P)
    edge = await FakeEdge(two.r1.target, "edge-1").connect()
    try:
        edge.open(3, "carol", "phone")
        edge.open(1, "alice", "phone")
        edge.open(2, "bob", "phone")
        await edge.registered(1, 2)
        edge.send_frames(1, text_frame(cid, "g1", "before", ref=1))
        await edge.wait_kind(3, "message")  # carol was a member: router-1 cached that
        await two.routers.move(partition, "router-2")
        del conv.members["carol"]  # carol left while router-2 owned the group
        await two.routers.move(partition, "router-1")
        edge.send_frames(1, text_frame(cid, "g2", "after", ref=2))
        messages = await edge.wait_kind(2, "message", 2)
        assert [m.message.client_msg_id for m in messages] == ["g1", "g2"]
        # One item per edge carries bob's and carol's copy: bob has it, so carol would too.
        assert [m.message.client_msg_id for m in edge.of_kind(3, "message")] == ["g1"]
    finally:
        await edge.abort()


async def test_a_router_whose_p_differs_from_the_stores_serves_nothing(fakes: FakeBackends) -> None:
    """Review finding 6: the store refuses a Seal under another P (PARTITION_MISMATCH); the
    router gives every claim back and fails to start, loudly, instead of serving them."""
    fakes.world.partitions = 2 * P
    config = sealing_config(fakes)
    ownership = MemoryOwnership(P)
    with pytest.raises(PartitionMismatch):
        await start_router(
            config, push=MemoryPushNotifier(), ownership=ownership, routers=LocalRouters(ownership)
        )
    assert all(owner is None for owner in (await ownership.current()).owners)
    assert fakes.world.seal_counts == [P], "refused at once, not retried"


async def test_seal_false_is_refused_with_more_than_one_router(fakes: FakeBackends) -> None:
    """Review finding 8: seal=false disables fencing, so a second router may not join one
    (nor an unsealed one join a second): a clear start-up error, and the first router serves on."""
    ownership = MemoryOwnership(P)
    routers = LocalRouters(ownership)
    unsealed = replace(sealing_config(fakes), seal=False)
    first = await start_router(unsealed, push=MemoryPushNotifier(), ownership=ownership, routers=routers)
    try:
        second = replace(sealing_config(fakes), router_id="router-2")
        with pytest.raises(InvalidArgument, match="seal=false"):
            await start_router(second, push=MemoryPushNotifier(), ownership=ownership, routers=routers)
        assert routers.router_ids == ["router-1"]
        assert sorted((await ownership.current()).held_by("router-1")) == list(range(P))
        await assert_a_send_is_acked(fakes, ownership, first, "alone")
    finally:
        await first.stop()


async def test_a_move_whose_new_owner_cannot_seal_leaves_the_partition_with_the_old_owner(
    fakes: FakeBackends,
) -> None:
    """The sibling of review finding 1 in a planned handoff: the old owner released, the new
    one's Seal failed past its retries: the old owner takes the partition back (no partition
    left without an owner), and the mover hears the error."""
    ownership = MemoryOwnership(P)
    routers = LocalRouters(ownership)
    services = []
    try:
        for name in ("router-1", "router-2"):
            config = replace(sealing_config(fakes), router_id=name, seal_retry_s=0)  # no retry
            services.append(
                await start_router(config, push=MemoryPushNotifier(), ownership=ownership, routers=routers)
            )
        (cid,) = conversations_on(fakes, ownership, "router-1", 1)
        partition = partition_of(cid, P)
        fakes.world.seal_failures = 1  # router-2's Seal fails once; router-1's take-back seals
        with pytest.raises(Unavailable):
            await routers.move(partition, "router-2")
        owner = (await ownership.current()).owner(partition)
        assert owner is not None and owner.router_id == "router-1"
        assert fakes.world.sealed[partition] == owner.epoch
        await assert_a_send_is_acked(fakes, ownership, services[0], "kept")
    finally:
        for service in services:
            await service.stop()


async def test_a_session_lost_again_before_its_retake_ran_retakes_everything_the_next_time(
    fakes: FakeBackends, two: Two
) -> None:
    """SUSPENDED, CONNECTED, SUSPENDED again before the retake task ran, CONNECTED: what the
    first retake was to take back is not forgotten."""
    partitions = two.r1.core.ctx.ownership
    before = sorted(partitions.owned())
    two.ownership.suspend("router-1")
    await partitions.all_lost.wait()
    partitions.all_lost.clear()
    two.ownership.resume("router-1")
    two.ownership.suspend("router-1")  # the watcher hears both before the retake task runs
    two.ownership.resume("router-1")
    await partitions.all_lost.wait()  # the second SUSPENDED was heard (and the CONNECTED after it)
    async with asyncio.timeout(10):
        while partitions._retake is not None and not partitions._retake.done():
            await asyncio.wait([partitions._retake])  # the latest retake, then any it chained
    assert sorted(partitions.owned()) == before
    (cid,) = conversations_on(fakes, two.ownership, "router-1", 1)
    edge = await edge_on(two.r1)
    try:
        edge.send_frames(1, text_frame(cid, "back", "hello", ref=9))
        assert (await edge.wait_ref(1, 9)).sent.seq == 1
    finally:
        await edge.abort()
