"""A 500-member group with 50 members online over 50 connections: every online device gets
every message exactly once, in order; every offline member reaches the push interface."""

from __future__ import annotations

import asyncio

from deploy.single_node import SingleNode
from kernel.grpc_server import insecure_channel
from protos import client_pb2 as pb
from protos import messaging_pb2 as mpb
from protos import messaging_pb2_grpc as mgrpc
from router import MemoryPushNotifier
from tests.e2e.wire_client import WireClient

MEMBERS = 500
ONLINE = 50
MESSAGES = 10


async def create_users(node: SingleNode, names: list[str]) -> None:
    async with insecure_channel(node.messaging_target, node.config.internal_secret) as channel:
        accounts = mgrpc.AccountsStub(channel)
        limit = asyncio.Semaphore(32)

        async def one(name: str) -> None:
            async with limit:
                await accounts.SignUp(mpb.SignUpRequest(user_id=name, password="correct horse battery"))

        await asyncio.gather(*(one(n) for n in names))


async def log_in(url: str, name: str) -> WireClient:
    client = await WireClient.open(url)
    reply = await client.request(
        pb.ClientFrame(
            hello=pb.Hello(
                log_in=pb.Credentials(user_id=name, password="correct horse battery"), device_id="d"
            )
        )
    )
    assert reply.WhichOneof("kind") == "welcome", reply
    return client


async def test_group_of_500_fans_out_once_in_order(node: SingleNode, push: MemoryPushNotifier) -> None:
    names = [f"user{i:03d}" for i in range(MEMBERS)]
    await create_users(node, [*names, "one-too-many"])
    online = await asyncio.gather(*(log_in(node.ws_url, n) for n in names[:ONLINE]))
    owner, second_sender = online[0], online[1]

    created = await owner.request(
        pb.ClientFrame(create_group=pb.CreateGroup(title="everyone", member_ids=names[1:]))
    )
    assert created.WhichOneof("kind") == "conversation", created
    conv = created.conversation.conversation_id
    assert len(created.conversation.members) == MEMBERS

    extra = pb.MemberList(user_ids=["one-too-many"])
    too_many = await owner.request(
        pb.ClientFrame(update_group=pb.UpdateGroup(conversation_id=conv, add_members=extra))
    )
    assert too_many.error.code == "LIMIT_EXCEEDED"

    for i in range(MESSAGES):
        sender = owner if i % 2 == 0 else second_sender
        reply = await sender.send_text(conv, f"to all {i}", f"g-{i}")
        assert reply.sent.seq == i + 1

    async def received(client: WireClient) -> list[int]:
        own = client is owner or client is second_sender
        count = MESSAGES // 2 if own else MESSAGES
        return [m.seq for m in await client.messages(count, conv)]

    seqs = await asyncio.gather(*(received(c) for c in online))
    assert seqs[0] == [2, 4, 6, 8, 10] and seqs[1] == [1, 3, 5, 7, 9]
    assert all(s == list(range(1, MESSAGES + 1)) for s in seqs[2:])

    # Exactly once: a marker is the very next message for every online member.
    marker = await owner.send_text(conv, "marker", "g-marker")
    nexts = await asyncio.gather(*(c.messages(1, conv) for c in online[1:]))
    assert all(n[0].seq == marker.sent.seq for n in nexts)

    offline = set(names[ONLINE:])
    async with asyncio.timeout(30):
        await push.wait_for(len(offline))
    pushed = {(p.user_id, p.seq) for p in push.notifications}
    # Collapsed: one push per offline member for the conversation within the window (the first
    # message's), not one per message: a busy group must not flood phones (issue 7, #4).
    assert pushed == {(u, 1) for u in offline}
    assert len(push.notifications) == len(pushed), "each offline member is notified once"
    await asyncio.gather(*(c.close() for c in online))
