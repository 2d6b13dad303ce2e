"""ChatClient against a real single node: chat over every transport, and a cut connection
that resumes with every message exactly once, in order."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from deploy.single_node import SingleNode
from kernel.errors import Unauthenticated
from protos import client_pb2 as pb
from sdk.client import ChatClient, ClientOptions
from sdk.connection import Credentials
from sdk.events import ConnectionChanged, ConnectionState, Event
from sdk.transport import Transport, TransportKind

TIMEOUT_S = 30.0
PASSWORD = "correct horse battery"
_names = itertools.count()


def unique(name: str) -> str:
    return f"{name}{next(_names)}"


def target_for(node: SingleNode, transport: TransportKind) -> str:
    return node.gateway_target if transport == "grpc" else node.ws_url


async def sign_up(node: SingleNode, user: str, transport: TransportKind = "ws", **kw: object) -> ChatClient:
    return await ChatClient.connect(
        target_for(node, transport),
        device_id=f"{user}-phone",
        sign_up=Credentials(user, PASSWORD),
        transport=transport,
        **kw,  # type: ignore[arg-type]
    )


async def next_of(client: ChatClient, kind: type[Event] | tuple[type[Event], ...]) -> Event:
    """The next event of `kind`; others before it are skipped."""
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            event = await client.next_event()
            if isinstance(event, kind):
                return event


async def messages(client: ChatClient, count: int) -> list[pb.Message]:
    got: list[pb.Message] = []
    while len(got) < count:
        event = await next_of(client, pb.Message)
        assert isinstance(event, pb.Message)
        got.append(event)
    return got


async def connection_state(client: ChatClient, state: ConnectionState) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            event = await client.next_event()
            if isinstance(event, ConnectionChanged) and event.state is state:
                return


@pytest.mark.parametrize("transport", ["ws", "ws-json", "grpc"])
async def test_two_clients_chat_with_receipts(node: SingleNode, transport: TransportKind) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = await sign_up(node, alice_id, transport)
    bob = await sign_up(node, bob_id, transport)
    try:
        conversation = await alice.open_direct(bob_id)
        sent = [await alice.send(conversation.conversation_id, f"hello {i}") for i in range(5)]
        assert [s.seq for s in sent] == [1, 2, 3, 4, 5]

        got = await messages(bob, 5)
        assert [(m.seq, m.body, m.sender_id) for m in got] == [
            (i + 1, f"hello {i}", alice_id) for i in range(5)
        ]
        reply = await bob.send(conversation.conversation_id, "hi alice")
        (answer,) = await messages(alice, 1)
        assert (answer.seq, answer.body) == (reply.seq, "hi alice")

        # bob's batched delivery acks reach alice as a receipt, then his read cursor as another.
        while True:
            receipt = await next_of(alice, pb.Receipt)
            assert isinstance(receipt, pb.Receipt)
            if receipt.kind == pb.RECEIPT_KIND_DELIVERED and receipt.up_to_seq >= 5:
                break
        await bob.mark_read(conversation.conversation_id, 6)
        while True:
            receipt = await next_of(alice, pb.Receipt)
            assert isinstance(receipt, pb.Receipt)
            if receipt.kind == pb.RECEIPT_KIND_READ and receipt.up_to_seq == 6:
                break

        page = await bob.history(conversation.conversation_id)
        assert [m.seq for m in page.messages] == [1, 2, 3, 4, 5, 6]
        listing = await alice.list_conversations()
        assert [row.conversation.conversation_id for row in listing.items] == [conversation.conversation_id]
    finally:
        await alice.close()
        await bob.close()


async def test_log_in_with_a_wrong_password_is_refused(node: SingleNode) -> None:
    user = unique("carol")
    first = await sign_up(node, user)
    await first.close()
    with pytest.raises(Unauthenticated):
        await ChatClient.connect(node.ws_url, device_id="x", log_in=Credentials(user, "wrong password"))
    again = await ChatClient.connect(node.ws_url, device_id="x", token=first.token)
    assert again.user_id == user
    await again.close()


class GatedClient(ChatClient):
    """Reconnects only once the test opens the gate, so messages are surely missed meanwhile."""

    gate: asyncio.Event

    async def _reconnect(self) -> Transport | None:
        await self.gate.wait()
        return await super()._reconnect()


async def test_a_cut_connection_resumes_with_every_message_once_in_order(node: SingleNode) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = await sign_up(node, alice_id)
    bob = await GatedClient.connect(
        node.ws_url,
        device_id="bob-phone",
        sign_up=Credentials(bob_id, PASSWORD),
        options=ClientOptions(resume_limit=7),  # several resume/fetch pages
    )
    assert isinstance(bob, GatedClient)
    bob.gate = asyncio.Event()
    try:
        conversation_id = (await alice.open_direct(bob_id)).conversation_id
        total = 60
        for i in range(20):
            await alice.send(conversation_id, f"m{i}")
        before = await messages(bob, 20)

        bob.drop_connection()
        await connection_state(bob, ConnectionState.DISCONNECTED)
        for i in range(20, 45):
            await alice.send(conversation_id, f"m{i}")
        bob.gate.set()

        async def keep_sending() -> None:
            for i in range(45, total):
                await alice.send(conversation_id, f"m{i}")

        sender = asyncio.create_task(keep_sending())
        after = await messages(bob, total - 20)
        await sender
        everything = before + after
        assert [m.seq for m in everything] == list(range(1, total + 1))
        assert [m.body for m in everything] == [f"m{i}" for i in range(total)]

        # Nothing arrives twice: the next message bob sees is the next one sent.
        marker = await alice.send(conversation_id, "marker")
        (next_message,) = await messages(bob, 1)
        assert next_message.seq == marker.seq == total + 1
    finally:
        await alice.close()
        await bob.close()


async def test_a_send_made_while_disconnected_is_stored_once_after_reconnecting(node: SingleNode) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = await GatedClient.connect(node.ws_url, device_id="a", sign_up=Credentials(alice_id, PASSWORD))
    bob = await sign_up(node, bob_id)
    assert isinstance(alice, GatedClient)
    alice.gate = asyncio.Event()
    try:
        conversation_id = (await alice.open_direct(bob_id)).conversation_id
        alice.drop_connection()
        await connection_state(alice, ConnectionState.DISCONNECTED)
        pending = asyncio.create_task(alice.send(conversation_id, "sent while offline", client_msg_id="k-1"))
        alice.gate.set()
        sent = await asyncio.wait_for(pending, TIMEOUT_S)
        again = await alice.send(conversation_id, "sent while offline", client_msg_id="k-1")
        assert again.seq == sent.seq and again.duplicate
        (got,) = await messages(bob, 1)
        assert (got.seq, got.body) == (sent.seq, "sent while offline")
    finally:
        await alice.close()
        await bob.close()


async def test_a_resume_larger_than_one_answer_continues_until_everything_arrived(node: SingleNode) -> None:
    """Twelve missed maximum-size messages do not fit one resume answer (its byte budget):
    the client resumes again from what it now holds, and gets each message once."""
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = await sign_up(node, alice_id)
    bob = await GatedClient.connect(node.ws_url, device_id="bob-phone", sign_up=Credentials(bob_id, PASSWORD))
    assert isinstance(bob, GatedClient)
    bob.gate = asyncio.Event()
    try:
        groups = [(await alice.create_group(f"g{i}", [bob_id])).conversation_id for i in range(12)]
        bob.drop_connection()
        await connection_state(bob, ConnectionState.DISCONNECTED)
        big = "€" * 100_000  # 300,000 bytes of UTF-8
        for n, group in enumerate(groups):
            await alice.send(group, big, payload=bytes([n]) * 400_000)
        bob.gate.set()
        got = await messages(bob, len(groups))
        assert sorted(m.conversation_id for m in got) == sorted(groups)
        assert {len(m.body) for m in got} == {100_000}
        marker = await alice.send(groups[0], "marker")
        (next_message,) = await messages(bob, 1)
        assert next_message.seq == marker.seq == 2
    finally:
        await alice.close()
        await bob.close()


async def test_a_reply_in_a_direct_chat_the_peer_opened_shares_presence(node: SingleNode) -> None:
    """Presence between direct peers needs both to have opened the chat: bob's client opens it
    before his first reply, whether it learned of the chat live or from his listing later."""
    alice_id, bob_id, carol_id = unique("alice"), unique("bob"), unique("carol")
    alice = await sign_up(node, alice_id)
    bob = await sign_up(node, bob_id)
    carol = await sign_up(node, carol_id)
    try:
        to_bob = await alice.open_direct(bob_id)
        await alice.send(to_bob.conversation_id, "hi bob")
        (got,) = await messages(bob, 1)
        await bob.send(got.conversation_id, "hi alice")
        assert await presence_of(alice, bob_id) == pb.PRESENCE_STATUS_ONLINE

        await carol.close()
        to_carol = await alice.open_direct(carol_id)
        await alice.send(to_carol.conversation_id, "are you there, carol?")
        carol = await ChatClient.connect(node.ws_url, device_id=f"{carol_id}-phone", token=carol.token)
        listing = await carol.list_conversations()
        assert [row.conversation.conversation_id for row in listing.items] == [to_carol.conversation_id]
        await carol.send(to_carol.conversation_id, "yes")
        assert await presence_of(alice, carol_id) == pb.PRESENCE_STATUS_ONLINE
    finally:
        for client in (alice, bob, carol):
            await client.close()


async def presence_of(client: ChatClient, user_id: str) -> int:
    """The status of the first presence event about `user_id` that `client` is shown."""
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            event = await client.next_event()
            if isinstance(event, pb.PresenceEvent) and event.user_id == user_id:
                return event.status
