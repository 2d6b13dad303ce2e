"""Issue 7 #9, the token parts: a correctly signed token for a user that does not exist is
refused; "log out everywhere" revokes every token issued so far and closes the user's
sessions; the token lifetime is configurable."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from deploy.single_node import SingleNode, start_single_node
from kernel.tokens import issue_token, verify_token
from protos import client_pb2 as pb
from tests.e2e.conftest import config_for_tests
from tests.e2e.wire_client import WireClient

TOKEN_TTL_MS = 7 * 24 * 3600 * 1000


async def refused(url: str, token: str) -> pb.Error:
    """The hello's answer: a fatal UNAUTHENTICATED error, then close 4001."""
    client = await WireClient.open(url)
    reply = await client.request(pb.ClientFrame(hello=pb.Hello(token=token, device_id="d")))
    async with asyncio.timeout(15):
        await client.closed.wait()
    assert client.ws.close_code == 4001
    assert reply.WhichOneof("kind") == "error", reply
    assert (reply.error.code, reply.error.fatal) == ("UNAUTHENTICATED", True)
    return reply.error


@pytest.mark.parametrize("user_id", ["nobody", "Not A Valid Id!", "x" * 5000, "9223372036854775808"])
async def test_a_signed_token_for_a_user_that_does_not_exist_is_refused(
    node: SingleNode, user_id: str
) -> None:
    bystander = await WireClient.sign_up(node.ws_url, "bob")
    # Signed with the node's own secret: only the user's existence is wrong.
    forged, _ = issue_token(node.config.token_secret, user_id, bystander.welcome.server_time_ms, TOKEN_TTL_MS)
    error = await refused(node.ws_url, forged)
    assert error.message == "invalid token"
    pong = await bystander.request(pb.ClientFrame(ping=pb.Ping()))
    assert pong.WhichOneof("kind") == "pong"
    await bystander.close()


async def test_log_out_everywhere_revokes_every_token_and_closes_the_users_sessions(node: SingleNode) -> None:
    phone = await WireClient.sign_up(node.ws_url, "alice", "phone")
    old_token = phone.welcome.token
    tablet = await WireClient.with_token(node.ws_url, old_token, "tablet")
    bob = await WireClient.sign_up(node.ws_url, "bob")

    reply = await phone.request(pb.ClientFrame(log_out_everywhere=pb.LogOutEverywhere()))
    assert reply.WhichOneof("kind") == "logged_out"
    async with asyncio.timeout(15):
        await phone.closed.wait()
        await tablet.closed.wait()
    assert (phone.ws.close_code, tablet.ws.close_code) == (4001, 4001)
    (told,) = [f for f in tablet.drain_pushes() if f.WhichOneof("kind") == "error"]
    assert (told.error.code, told.error.fatal) == ("UNAUTHENTICATED", True)

    error = await refused(node.ws_url, old_token)
    assert "revoked" in error.message
    # A fresh log-in works, and its token does.
    again = await WireClient.open(node.ws_url)
    welcome = await again.request(
        pb.ClientFrame(
            hello=pb.Hello(log_in=pb.Credentials(user_id="alice", password="correct horse battery"))
        )
    )
    assert welcome.WhichOneof("kind") == "welcome"
    fresh = await WireClient.with_token(node.ws_url, welcome.welcome.token, "phone")
    # bob was never touched.
    pong = await bob.request(pb.ClientFrame(ping=pb.Ping()))
    assert pong.WhichOneof("kind") == "pong"
    for c in (again, fresh, bob):
        await c.close()


async def test_the_token_lifetime_is_configurable(tmp_path: Path) -> None:
    node = await start_single_node(config_for_tests(tmp_path, token_ttl_ms=60_000))
    try:
        alice = await WireClient.sign_up(node.ws_url, "alice")
        claims = verify_token(node.config.token_secret, alice.welcome.token, 0)
        assert claims.expires_at_ms - alice.welcome.server_time_ms <= 61_000
        await alice.close()
    finally:
        await node.stop()


async def test_frames_pipelined_behind_a_token_hello_are_served(node: SingleNode) -> None:
    """The token check (user exists, not revoked) may wait on accounts; a client that pipelines
    behind its hello is still served, in order, once the welcome is out."""
    alice = await WireClient.sign_up(node.ws_url, "alice")
    client = await WireClient.open(node.ws_url)
    hello = asyncio.ensure_future(
        client.request(pb.ClientFrame(hello=pb.Hello(token=alice.welcome.token, device_id="tab")))
    )
    listing = asyncio.ensure_future(client.request(pb.ClientFrame(list_conversations=pb.ListConversations())))
    assert (await hello).WhichOneof("kind") == "welcome"
    assert (await listing).WhichOneof("kind") == "conversations"
    for c in (alice, client):
        await c.close()


async def test_log_out_everywhere_closes_the_users_sessions_on_every_edge(tmp_path: Path) -> None:
    """Two edges: the one that takes the revocation publishes it (a cluster event), the other
    closes the user's session it holds, as the first closed its own (on a cluster the same
    event goes over Redis: E2E_CLUSTER=1 runs the test above across two edge processes)."""
    node = await start_single_node(config_for_tests(tmp_path, edges=2))
    try:
        first, second = node.ws_urls
        phone = await WireClient.sign_up(first, "alice", "phone")
        tablet = await WireClient.with_token(second, phone.welcome.token, "tablet")
        bob = await WireClient.sign_up(second, "bob")
        reply = await phone.request(pb.ClientFrame(log_out_everywhere=pb.LogOutEverywhere()))
        assert reply.WhichOneof("kind") == "logged_out"
        async with asyncio.timeout(15):
            await tablet.closed.wait()
        assert tablet.ws.close_code == 4001
        (told,) = [f for f in tablet.drain_pushes() if f.WhichOneof("kind") == "error"]
        assert (told.error.code, told.error.fatal) == ("UNAUTHENTICATED", True)
        assert "revoked" in (await refused(second, phone.welcome.token)).message
        pong = await bob.request(pb.ClientFrame(ping=pb.Ping()))
        assert pong.WhichOneof("kind") == "pong"
        await bob.close()
    finally:
        await node.stop()
