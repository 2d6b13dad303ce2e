"""Routing by the partition map: a frame a router refuses STALE_OWNER is re-sent to the owner
of a newer map; the client sees its answer, nothing else. Bounded: a frame refused again and
again ends in UNAVAILABLE, and other users are still served."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from edge import start_edge
from edge.router_link import MAX_REROUTES
from kernel.clock import ManualClock
from kernel.ownership import Owner, PartitionMap
from kernel.partitions import partition_of
from protos import client_pb2 as pb
from tests.edge.client import WsClient
from tests.edge.conftest import Backends
from tests.edge.fakes import FakeRouter, start_router

P = 8


class QueueWatch:
    """A MapWatch the test drives: each map put is delivered, in order."""

    def __init__(self, first: PartitionMap) -> None:
        self.maps: asyncio.Queue[PartitionMap] = asyncio.Queue()
        self.maps.put_nowait(first)

    async def watch(self) -> AsyncIterator[PartitionMap]:
        while True:
            yield await self.maps.get()


def send(ref: int, conversation: int, msg_id: str) -> pb.ClientFrame:
    return pb.ClientFrame(
        ref=ref, send=pb.SendMessage(conversation_id=conversation, client_msg_id=msg_id, body="x")
    )


async def test_a_refused_send_is_re_sent_to_the_new_owner_after_the_map_changes(
    backends: Backends, clock: ManualClock
) -> None:
    old = backends.router
    new = FakeRouter()
    new_server = await start_router(new)
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
    a = backends.router
    b = FakeRouter()
    b_server = await start_router(b)
    targets = (backends.router_server.target, b_server.target)
    partition = partition_of(3, P)
    on_a = PartitionMap(P, 1, (Owner("a", targets[0], 1),) * P)
    watch = QueueWatch(on_a)
    edge = await start_edge(
        backends.edge_config(partitions=P, router_targets=targets), map_watch=watch, clock=clock
    )
    try:
        alice, _ = await WsClient.authed(edge.ws_url, "alice")
        a.refuse_all = b.refuse_all = True
        await alice.send(send(7, 3, "m7"))
        current = on_a
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
    finally:
        await edge.stop()
        await b_server.stop(grace=0)


async def test_a_receipt_split_over_two_owners_gets_one_answer(
    backends: Backends, clock: ManualClock
) -> None:
    a = backends.router
    b = FakeRouter()
    b_server = await start_router(b)
    targets = (backends.router_server.target, b_server.target)
    a.answer_receipts = b.answer_receipts = True
    edge = await start_edge(backends.edge_config(partitions=P, router_targets=targets), clock=clock)
    try:
        alice, _ = await WsClient.authed(edge.ws_url, "alice")
        owners = edge.links.map.owners
        by_owner: dict[str, int] = {}
        for conversation in range(1, 100):  # one conversation on each router
            owner = owners[partition_of(conversation, P)]
            assert owner is not None
            by_owner.setdefault(owner.target, conversation)
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
