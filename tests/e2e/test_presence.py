"""Presence end to end: a contact sees online, then offline when a connection dies."""

from __future__ import annotations

import asyncio

from deploy.single_node import SingleNode
from protos import client_pb2 as pb
from tests.e2e.wire_client import WireClient


def status_of(user: str, status: int) -> object:
    return lambda f: f.presence.user_id == user and f.presence.status == status


async def befriend(url: str) -> tuple[WireClient, WireClient]:
    """alice and bob add each other: presence is shown to mutual contacts only."""
    alice = await WireClient.sign_up(url, "alice")
    bob = await WireClient.sign_up(url, "bob")
    reply = await alice.request(pb.ClientFrame(contact=pb.ContactRequest(add="bob")))
    assert list(reply.contacts.user_ids) == ["bob"]
    await bob.request(pb.ClientFrame(contact=pb.ContactRequest(add="alice")))
    # Made mutual: each sees the other's current status at once.
    await alice.next_push("presence", status_of("bob", pb.PRESENCE_STATUS_ONLINE))  # type: ignore[arg-type]
    await bob.next_push("presence", status_of("alice", pb.PRESENCE_STATUS_ONLINE))  # type: ignore[arg-type]
    return alice, bob


async def presence_until(client: WireClient, user: str, status: int) -> list[str]:
    """Whose presence `client` was shown, up to and including `user` reaching `status`."""
    seen: list[str] = []
    async with asyncio.timeout(15):
        while True:
            frame = await client.pushes.get()
            if frame.WhichOneof("kind") == "presence":
                seen.append(frame.presence.user_id)
                if frame.presence.user_id == user and frame.presence.status == status:
                    return seen


async def add(client: WireClient, contact: str) -> None:
    await client.request(pb.ClientFrame(contact=pb.ContactRequest(add=contact)))


async def test_a_one_sided_contact_add_shows_no_presence(node: SingleNode) -> None:
    """Issue 7 #9: alice adds bob as a contact; bob never added her. She learns nothing of his
    presence: not on adding, not when he comes and goes, not in her opening snapshot. carol,
    mutual contact of both, is the control: what alice would see of bob comes with or before
    what she sees of carol, and carol sees bob's changes in the same fan-out alice would."""
    online, offline = pb.PRESENCE_STATUS_ONLINE, pb.PRESENCE_STATUS_OFFLINE
    alice = await WireClient.sign_up(node.ws_url, "alice")
    bob = await WireClient.sign_up(node.ws_url, "bob")
    carol = await WireClient.sign_up(node.ws_url, "carol")
    for a, b in ((bob, "carol"), (carol, "bob"), (alice, "carol"), (carol, "alice")):
        await add(a, b)
    reply = await alice.request(pb.ClientFrame(contact=pb.ContactRequest(add="bob")))
    assert list(reply.contacts.user_ids) == ["bob", "carol"]

    await bob.close()
    await presence_until(carol, "bob", offline)
    bob = await WireClient.with_token(node.ws_url, bob.welcome.token, "bob-2")
    await presence_until(carol, "bob", online)
    await alice.request(pb.ClientFrame(ping=pb.Ping()))  # after anything fanned out with carol's
    alice_again = await WireClient.with_token(node.ws_url, alice.welcome.token, "alice-2")
    snapshot = await presence_until(alice_again, "carol", online)  # bob sorts before carol
    assert "bob" not in snapshot
    shown = [f.presence.user_id for f in alice.drain_pushes() if f.WhichOneof("kind") == "presence"]
    assert "bob" not in shown

    await add(bob, "alice")  # now mutual: each sees the other at once
    assert "bob" in await presence_until(alice, "bob", online)
    for c in (alice, alice_again, bob, carol):
        await c.close()


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
