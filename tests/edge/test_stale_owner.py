"""Routing by the partition map: a frame a router refuses STALE_OWNER is re-sent to the owner
of a newer map; the client sees its answer, nothing else. Bounded: a frame refused again and
again ends in UNAVAILABLE, and other users are still served."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from deploy.local_servers.process import free_ports
from edge import EdgeService, start_edge
from edge.router_link import MAX_REROUTES
from kernel.clock import ManualClock
from kernel.ownership import Owner, PartitionMap
from kernel.partitions import partition_of
from protos import client_pb2 as pb
from tests.edge.client import WsClient
from tests.edge.conftest import LINK_TRANSPORTS, Backends, Transport
from tests.edge.fakes import FakeRouter


@pytest.fixture(params=LINK_TRANSPORTS)
def link_transport(request: pytest.FixtureRequest) -> Transport:
    """Every test here that reaches a router runs over gRPC and over the local Link."""
    transport: Transport = request.param
    return transport


P = 8


class QueueWatch:
    """A MapWatch the test drives: each map put is delivered, in order."""

    def __init__(self, first: PartitionMap) -> None:
        self.maps: asyncio.Queue[PartitionMap] = asyncio.Queue()
        self.maps.put_nowait(first)

    async def watch(self) -> AsyncIterator[PartitionMap]:
        while True:
            yield await self.maps.get()


class AppliedWatch(QueueWatch):
    """A QueueWatch that says when the edge has applied a map (it asks for the next one only
    after applying the last)."""

    def __init__(self, first: PartitionMap) -> None:
        super().__init__(first)
        self.first = first
        self.asked = asyncio.Condition()
        self.applied = -1  # maps applied (the first counts once the edge asks again)

    async def watch(self) -> AsyncIterator[PartitionMap]:
        while True:
            async with self.asked:
                self.applied += 1
                self.asked.notify_all()
            yield await self.maps.get()

    async def wait_applied(self, count: int) -> None:
        async with asyncio.timeout(30), self.asked:
            await self.asked.wait_for(lambda: self.applied >= count)


@contextlib.asynccontextmanager
async def two_routers(
    backends: Backends, clock: ManualClock
) -> AsyncIterator[tuple[FakeRouter, FakeRouter, tuple[str, str], AppliedWatch, EdgeService]]:
    """An edge over routers a and b, with a map (watch.first) giving every partition to a."""
    a = backends.router
    b = FakeRouter()
    b_server = await backends.start_router(b)
    targets = (backends.router_server.target, b_server.target)
    watch = AppliedWatch(PartitionMap(P, 1, (Owner("a", targets[0], 1),) * P))
    edge = await start_edge(
        backends.edge_config(partitions=P, router_targets=targets), map_watch=watch, clock=clock
    )
    try:
        await watch.wait_applied(1)
        yield a, b, targets, watch, edge
    finally:
        await edge.stop()
        await b_server.stop(grace=0)


def one_conversation_per_router(partition_map: PartitionMap) -> dict[str, int]:
    """router target -> a conversation whose partition it owns."""
    by_owner: dict[str, int] = {}
    for conversation in range(1, 100):
        owner = partition_map.owners[partition_of(conversation, P)]
        assert owner is not None
        by_owner.setdefault(owner.target, conversation)
    return by_owner


def send(ref: int, conversation: int, msg_id: str) -> pb.ClientFrame:
    return pb.ClientFrame(
        ref=ref, send=pb.SendMessage(conversation_id=conversation, client_msg_id=msg_id, body="x")
    )


async def test_a_refused_send_is_re_sent_to_the_new_owner_after_the_map_changes(
    backends: Backends, clock: ManualClock
) -> None:
    old = backends.router
    new = FakeRouter()
    new_server = await backends.start_router(new)
    old_target, new_target = backends.router_server.target, new_server.target
    first = PartitionMap(P, 1, tuple(Owner("old", old_target, 1) for _ in range(P)))
    watch = QueueWatch(first)
    edge = await start_edge(backends.edge_config(partitions=P), map_watch=watch, clock=clock)
    try:
        client, _ = await WsClient.authed(edge.ws_url, "alice")
        old.refuse_all = True  # the old owner lost everything; the map has not caught up yet
        await client.send(send(1, 5, "m1"))
        refused = await old.next_item("send")
        assert refused.frame.send.client_msg_id == "m1"
        # The new map: partition of conversation 5 moved to the new router at a higher epoch.
        watch.maps.put_nowait(first.with_owner(partition_of(5, P), Owner("new", new_target, 2)))
        answer = await client.recv_kind("sent")
        assert answer.ref == 1 and answer.sent.client_msg_id == "m1"
        resent = await new.next_item("send")
        assert resent.frame.send.client_msg_id == "m1" and resent.reroutes == 1
        assert edge.links.rerouted == 1
        await client.close()
    finally:
        await edge.stop()
        await new_server.stop(grace=0)


async def test_a_frame_refused_by_every_owner_ends_in_unavailable_and_others_are_served(
    backends: Backends, clock: ManualClock
) -> None:
    partition = partition_of(3, P)
    async with two_routers(backends, clock) as (a, b, targets, watch, edge):
        alice, _ = await WsClient.authed(edge.ws_url, "alice")
        a.refuse_all = b.refuse_all = True
        await alice.send(send(7, 3, "m7"))
        current = watch.first
        for attempt in range(MAX_REROUTES + 1):
            refuser = a if attempt % 2 == 0 else b
            refused = await refuser.next_item("send")
            assert refused.reroutes == attempt
            if attempt < MAX_REROUTES:  # a newer map names the other router: the edge re-sends
                other = targets[(attempt + 1) % 2]
                current = current.with_owner(partition, Owner(other, other, attempt + 2))
                watch.maps.put_nowait(current)
        frame = await alice.recv()
        assert frame.ref == 7 and frame.error.code == "UNAVAILABLE" and frame.error.retryable
        a.refuse_all = b.refuse_all = False
        sent = await alice.request(send(8, 3, "m8"))
        assert sent.sent.client_msg_id == "m8"
        await alice.close()


async def test_a_receipt_split_over_two_owners_gets_one_answer(
    backends: Backends, clock: ManualClock
) -> None:
    a = backends.router
    b = FakeRouter()
    b_server = await backends.start_router(b)
    targets = (backends.router_server.target, b_server.target)
    a.answer_receipts = b.answer_receipts = True
    edge = await start_edge(backends.edge_config(partitions=P, router_targets=targets), clock=clock)
    try:
        alice, _ = await WsClient.authed(edge.ws_url, "alice")
        by_owner = one_conversation_per_router(edge.links.map)
        assert len(by_owner) == 2
        cursors = [pb.ConversationCursor(conversation_id=c, seq=1) for c in by_owner.values()]
        answer = await alice.request(pb.ClientFrame(ref=11, read=pb.MarkRead(cursors=cursors)))
        assert answer.ref == 11 and answer.cursors_stored.cursors == 2
        assert (await a.next_item("read")).frame.read.cursors[0].conversation_id != (
            await b.next_item("read")
        ).frame.read.cursors[0].conversation_id
        await alice.send(pb.ClientFrame(ref=12, ping=pb.Ping()))
        pong = await alice.recv()
        assert pong.ref == 12 and pong.HasField("pong"), "no second answer to the split frame came first"
        await alice.close()
    finally:
        await edge.stop()
        await b_server.stop(grace=0)


async def test_a_send_refused_after_the_map_moved_still_reaches_the_new_owner_first(
    backends: Backends, clock: ManualClock
) -> None:
    """Review finding 3: A goes to the old owner; the map moves the partition; B is sent;
    only then does the old owner's refusal of A come back. B must not overtake A."""
    async with two_routers(backends, clock) as (old, new, targets, watch, edge):
        client, _ = await WsClient.authed(edge.ws_url, "alice")
        old.refuse_all = old.withhold = True  # the old owner lost it, and says so late
        await client.send(send(1, 5, "A"))
        assert (await old.next_item("send")).frame.send.client_msg_id == "A"
        watch.maps.put_nowait(watch.first.with_owner(partition_of(5, P), Owner("new", targets[1], 2)))
        await watch.wait_applied(2)
        await client.send(send(2, 5, "B"))
        pong = await client.request(pb.ClientFrame(ref=3, ping=pb.Ping()))  # the edge has taken B
        assert pong.HasField("pong")
        await old.release()  # A's refusal arrives now
        answers = [await client.recv_kind("sent"), await client.recv_kind("sent")]
        assert [a.sent.client_msg_id for a in answers] == ["A", "B"]
        stored = [(await new.next_item("send")).frame.send.client_msg_id for _ in range(2)]
        assert stored == ["A", "B"], "the new owner numbers A before B"
        assert edge.links.held_sends == 0
        await client.close()


async def test_a_map_that_does_not_move_the_partition_neither_re_sends_nor_counts(
    backends: Backends, clock: ManualClock
) -> None:
    """Review finding 4: one count, one deadline. A refused frame waits while maps keep naming
    the router that refused it (no re-send to an unchanged route, nothing counted), and every
    re-send carries the deadline set at its first refusal."""
    partition = partition_of(3, P)
    async with two_routers(backends, clock) as (a, b, targets, watch, edge):
        on_a = watch.first
        alice, _ = await WsClient.authed(edge.ws_url, "alice")
        await watch.wait_applied(1)
        a.refuse_all = b.refuse_all = True
        await alice.send(send(7, 3, "m7"))
        assert (await a.next_item("send")).reroutes == 0
        # A newer map that moves another partition only: the refused frame stays where it is.
        other = (partition + 1) % P
        unchanged = on_a.with_owner(other, Owner("b", targets[1], 2))
        watch.maps.put_nowait(unchanged)
        await watch.wait_applied(2)
        moved = unchanged.with_owner(partition, Owner("b", targets[1], 3))
        watch.maps.put_nowait(moved)
        first = await b.next_item("send")
        assert first.frame.send.client_msg_id == "m7" and first.reroutes == 1
        assert first.reroute_deadline_ms > 0
        watch.maps.put_nowait(moved.with_owner(partition, Owner("a", targets[0], 4)))
        again = await a.next_item("send")
        assert again.reroutes == 2 and again.reroute_deadline_ms == first.reroute_deadline_ms
        assert a.items.empty(), "no re-send to the unchanged route in between"
        await alice.close()


async def test_a_split_receipt_with_a_part_that_cannot_be_queued_is_answered_once_and_forgotten(
    backends: Backends, clock: ManualClock
) -> None:
    """Review finding 5: one part of a split receipt refused at enqueue (its router's link is
    down and its backlog full) left the split's entry in the edge for ever. Now the frame gets
    one answer (UNAVAILABLE, retry) once the other part is answered, and nothing is left."""
    a = backends.router
    (dead_port,) = free_ports(1)
    targets = (backends.router_server.target, f"127.0.0.1:{dead_port}")
    a.answer_receipts = True
    config = backends.edge_config(partitions=P, router_targets=targets, router_pending_limit=0)
    edge = await start_edge(config, clock=clock)
    try:
        alice, _ = await WsClient.authed(edge.ws_url, "alice")
        by_owner = one_conversation_per_router(edge.links.map)
        sent = await alice.request(send(1, by_owner[targets[0]], "up"))  # proof a's link is up
        assert sent.HasField("sent")
        cursors = [pb.ConversationCursor(conversation_id=c, seq=1) for c in by_owner.values()]
        answer = await alice.request(pb.ClientFrame(ref=11, read=pb.MarkRead(cursors=cursors)))
        assert answer.ref == 11 and answer.error.code == "UNAVAILABLE" and answer.error.retryable
        pong = await alice.request(pb.ClientFrame(ref=12, ping=pb.Ping()))
        assert pong.ref == 12 and pong.HasField("pong"), "one answer only"
        assert edge.links.pending_splits == 0
        await alice.close()
    finally:
        await edge.stop()
