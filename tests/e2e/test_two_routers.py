"""Two routers on one node (`routers=2`): the partitions split between them, the edge routes by
the partition map, and a planned handoff (`hubbub admin move-partition`) under steady sends
from several clients loses nothing acked, stores nothing twice, and every member sees one order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploy.single_node import SingleNode, start_single_node
from discovery import admin_cli
from discovery.convert import map_from_proto
from kernel.grpc_server import internal_channel
from kernel.ownership import PartitionMap
from kernel.partitions import partition_of
from protos import client_pb2 as pb
from protos import router_pb2, router_pb2_grpc
from router import MemoryPushNotifier
from tests.e2e.conftest import config_for_tests
from tests.e2e.wire_client import WireClient


@pytest.fixture
async def node2(tmp_path: Path) -> AsyncIterator[SingleNode]:
    running = await start_single_node(config_for_tests(tmp_path, routers=2), push=MemoryPushNotifier())
    try:
        yield running
    finally:
        await running.stop()


async def partition_map(node: SingleNode) -> PartitionMap:
    """The map as the routers serve it to edges (Router.WatchPartitions: the current one first)."""
    async with internal_channel(node.router_target, node.config.internal_secret) as channel:
        stream = router_pb2_grpc.RouterStub(channel).WatchPartitions(router_pb2.WatchPartitionsRequest())
        update = await anext(aiter(stream))
        stream.cancel()
        return map_from_proto(update)


def owner_of(current: PartitionMap, conversation_id: int) -> str:
    owner = current.owner(partition_of(conversation_id, current.partitions))
    assert owner is not None
    return owner.router_id


async def group_on(creator: WireClient, members: list[str], current: PartitionMap, router_id: str) -> int:
    """A new group whose partition `router_id` owns (groups get fresh ids: try until one lands)."""
    for attempt in range(200):
        reply = await creator.request(
            pb.ClientFrame(create_group=pb.CreateGroup(title=f"g{attempt}", member_ids=members))
        )
        assert reply.WhichOneof("kind") == "conversation", reply
        cid = reply.conversation.conversation_id
        if owner_of(current, cid) == router_id:
            return cid
    raise AssertionError(f"no group landed on {router_id}")


async def move_partition(node: SingleNode, partition: int, router_id: str) -> str:
    """`hubbub admin move-partition`, through discovery with the secret from the data dir."""
    args = admin_cli.build_parser("hubbub admin").parse_args(
        [
            "--target",
            node.discovery_target,
            "--data-dir",
            str(node.data_dir),
            "move-partition",
            str(partition),
            router_id,
        ]
    )
    return await admin_cli.run(args)


async def test_two_routers_split_the_partitions_and_users_chat_across_both(node2: SingleNode) -> None:
    current = await partition_map(node2)
    held = {r: len(current.held_by(r)) for r in ("router-1", "router-2")}
    assert held == {"router-1": current.partitions // 2, "router-2": current.partitions // 2}
    alice = await WireClient.sign_up(node2.ws_url, "alice")
    bob = await WireClient.sign_up(node2.ws_url, "bob")
    on_1 = await group_on(alice, ["bob"], current, "router-1")
    on_2 = await group_on(alice, ["bob"], current, "router-2")
    for cid in (on_1, on_2):
        sent = await alice.send_text(cid, f"hello in {cid}", f"a-{cid}")
        assert sent.sent.seq == 1
        (got,) = await bob.messages(1, cid)
        assert got.body == f"hello in {cid}" and got.sender_id == "alice"
        await bob.send_frame(pb.ClientFrame(typing=pb.Typing(conversation_id=cid, active=True)))
        typing = await alice.next_push("typing", lambda f, c=cid: f.typing.conversation_id == c)  # type: ignore[misc]
        assert typing.typing.user_id == "bob"
    # One read frame over conversations of both routers: split by owner, both receipts arrive.
    cursors = [pb.ConversationCursor(conversation_id=cid, seq=1) for cid in (on_1, on_2)]
    answer = await bob.request(pb.ClientFrame(read=pb.MarkRead(cursors=cursors)))
    assert answer.WhichOneof("kind") == "cursors_stored", answer
    seen: set[int] = set()
    while len(seen) < 2:
        receipt = await alice.next_push("receipt", lambda f: f.receipt.kind == pb.RECEIPT_KIND_READ)
        assert receipt.receipt.user_id == "bob" and receipt.receipt.up_to_seq == 1
        seen.add(receipt.receipt.conversation_id)
    assert seen == {on_1, on_2}
    # Frames without a conversation (a direct chat) go by the user's partition: they work too.
    direct = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
    assert direct.WhichOneof("kind") == "conversation"
    for client in (alice, bob):
        await client.close()


SENDERS = 3
PER_SENDER = 80


WINDOW = 16  # sends each client keeps in flight: some meet the handoff mid-way


async def send_one(client: WireClient, cid: int, name: str, i: int, acks: dict[str, int]) -> None:
    """A retryable error is retried with the same client_msg_id (what a client does), so only
    the ack counts."""
    msg_id = f"{name}-{i}"
    for _ in range(10):
        reply = await client.send_text(cid, f"{name} {i}", msg_id)
        if reply.WhichOneof("kind") == "sent":
            acks[msg_id] = reply.sent.seq
            return
        assert reply.error.retryable, reply
    raise AssertionError(f"{msg_id} never acked")


async def send_steadily(
    client: WireClient, cid: int, name: str, acks: dict[str, int], flowing: asyncio.Event
) -> None:
    """A sliding window: a new send goes as soon as one is acked, so sends keep arriving
    while the partition moves."""
    window = asyncio.Semaphore(WINDOW)

    async def one(i: int) -> None:
        async with window:
            await send_one(client, cid, name, i, acks)
            if len(acks) >= SENDERS * PER_SENDER // 10:
                flowing.set()

    await asyncio.gather(*(one(i) for i in range(PER_SENDER)))


async def test_a_planned_handoff_under_steady_sends_loses_nothing_and_keeps_one_order(
    node2: SingleNode,
) -> None:
    current = await partition_map(node2)
    names = [f"user{i}" for i in range(SENDERS)]
    clients = [await WireClient.sign_up(node2.ws_url, name) for name in names]
    cid = await group_on(clients[0], names[1:], current, "router-1")
    partition = partition_of(cid, current.partitions)
    acks: dict[str, int] = {}
    flowing = asyncio.Event()  # a tenth of the sends acked: move the partition under traffic
    senders = [
        asyncio.ensure_future(send_steadily(c, cid, n, acks, flowing))
        for c, n in zip(clients, names, strict=True)
    ]
    await flowing.wait()
    moved = await move_partition(node2, partition, "router-2")
    assert "owner router-2" in moved
    await asyncio.gather(*senders)
    after = await partition_map(node2)
    owner = after.owner(partition)
    assert owner is not None and owner.router_id == "router-2"
    old = current.owner(partition)
    assert old is not None and owner.epoch > old.epoch
    argv = ["--target", node2.discovery_target, "--data-dir", str(node2.data_dir), "partitions"]
    listed = await admin_cli.run(admin_cli.build_parser("hubbub admin").parse_args(argv))
    row = next(line.split() for line in listed.splitlines()[1:] if line.split()[0] == str(partition))
    assert (row[1], int(row[3])) == ("router-2", owner.epoch), "`hubbub admin partitions` shows the move"

    total = SENDERS * PER_SENDER
    assert len(acks) == total and sorted(acks.values()) == list(range(1, total + 1)), (
        "acked once each, no gap"
    )
    # The log: every acked message exactly once, at the seq its ack named.
    page = await clients[0].request(
        pb.ClientFrame(
            history=pb.FetchHistory(
                conversation_id=cid, anchor_seq=0, direction=pb.HISTORY_DIRECTION_AFTER, limit=100
            )
        )
    )
    stored = list(page.history.messages)
    while page.history.has_more:
        page = await clients[0].request(
            pb.ClientFrame(
                history=pb.FetchHistory(
                    conversation_id=cid,
                    anchor_seq=stored[-1].seq,
                    direction=pb.HISTORY_DIRECTION_AFTER,
                    limit=100,
                )
            )
        )
        stored.extend(page.history.messages)
    assert [m.seq for m in stored] == list(range(1, total + 1))
    assert {m.client_msg_id: m.seq for m in stored} == acks
    # Every member saw the others' messages live, in one order (seq order, none twice).
    for client, name in zip(clients, names, strict=True):
        others = total - PER_SENDER
        got = await client.messages(others, cid)
        assert [m.seq for m in got] == sorted(m.seq for m in got)
        assert len({m.seq for m in got}) == others and all(m.sender_id != name for m in got)
    for client in clients:
        await client.close()
