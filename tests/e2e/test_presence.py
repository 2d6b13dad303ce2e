"""Presence end to end: a contact sees online, then offline when a connection dies."""

from __future__ import annotations

from deploy.single_node import SingleNode
from protos import client_pb2 as pb
from tests.e2e.wire_client import WireClient


def status_of(user: str, status: int) -> object:
    return lambda f: f.presence.user_id == user and f.presence.status == status


async def befriend(url: str) -> tuple[WireClient, WireClient]:
    alice = await WireClient.sign_up(url, "alice")
    bob = await WireClient.sign_up(url, "bob")
    reply = await alice.request(pb.ClientFrame(contact=pb.ContactRequest(add="bob")))
    assert list(reply.contacts.user_ids) == ["bob"]
    return alice, bob


async def test_contact_sees_online_then_offline_after_a_dropped_connection(node: SingleNode) -> None:
    alice, bob = await befriend(node.ws_url)
    await bob.close()
    await alice.next_push("presence", status_of("bob", pb.PRESENCE_STATUS_OFFLINE))  # type: ignore[arg-type]

    bob = await WireClient.with_token(node.ws_url, bob.welcome.token, "bob-phone")
    online = await alice.next_push("presence", status_of("bob", pb.PRESENCE_STATUS_ONLINE))  # type: ignore[arg-type]
    assert online.presence.user_id == "bob"

    bob.ws.transport.abort()  # no goodbye, no close frame
    offline = await alice.next_push("presence", status_of("bob", pb.PRESENCE_STATUS_OFFLINE))  # type: ignore[arg-type]
    assert offline.presence.last_seen_ms > 0
    await alice.close()


async def test_a_silent_connection_is_closed_and_counted_offline(node: SingleNode) -> None:
    alice, bob = await befriend(node.ws_url)
    alice.keep_alive()
    # bob stops sending anything (not even pings): the edge closes him after the heartbeat timeout.
    async with __import__("asyncio").timeout(20):
        await bob.closed.wait()
    assert bob.ws.close_code == 4008
    await alice.next_push("presence", status_of("bob", pb.PRESENCE_STATUS_OFFLINE))  # type: ignore[arg-type]
    await alice.close()


async def test_presence_is_not_broadcast_to_strangers(node: SingleNode) -> None:
    alice, bob = await befriend(node.ws_url)
    carol = await WireClient.sign_up(node.ws_url, "carol")
    await bob.close()
    await alice.next_push("presence", status_of("bob", pb.PRESENCE_STATUS_OFFLINE))  # type: ignore[arg-type]
    # carol is nobody's contact: a ping round trip later she has received no presence at all.
    await carol.request(pb.ClientFrame(ping=pb.Ping()))
    assert not [f for f in carol.drain_pushes() if f.WhichOneof("kind") == "presence"]
    for c in (alice, carol):
        await c.close()
