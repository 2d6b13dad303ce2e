"""Bad input gets a stable error code; the connection, the node and other users survive."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from deploy.single_node import SingleNode
from kernel.tokens import issue_token
from protos import client_pb2 as pb
from tests.e2e.wire_client import TIMEOUT_S, WireClient


async def assert_still_serving(client: WireClient) -> None:
    pong = await client.request(pb.ClientFrame(ping=pb.Ping(client_time_ms=1)))
    assert pong.WhichOneof("kind") == "pong"


async def next_error(client: WireClient) -> pb.Error:
    return (await client.next_push("error")).error


async def test_garbage_bytes_and_unknown_frames_get_bad_frame(node: SingleNode) -> None:
    alice = await WireClient.sign_up(node.ws_url, "alice")
    await alice.ws.send(b"\xff\x00garbage\x13\x37")
    assert (await next_error(alice)).code == "BAD_FRAME"
    await assert_still_serving(alice)
    # Field 99 with a varint: a frame kind this server does not know.
    await alice.ws.send(b"\x98\x06\x01")
    assert (await next_error(alice)).code == "BAD_FRAME"
    await assert_still_serving(alice)
    await alice.close()


async def test_oversize_empty_and_foreign_sends_are_refused(node: SingleNode) -> None:
    alice = await WireClient.sign_up(node.ws_url, "alice")
    bob = await WireClient.sign_up(node.ws_url, "bob")
    carol = await WireClient.sign_up(node.ws_url, "carol")
    reply = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
    conv = reply.conversation.conversation_id

    too_long = await alice.send_text(conv, "x" * 100_001, "big")
    assert too_long.error.code == "TOO_LARGE"
    empty = await alice.send_text(conv, "", "empty")
    assert empty.error.code == "INVALID_ARGUMENT"
    foreign = await carol.send_text(conv, "let me in", "c-1")
    assert foreign.error.code == "NOT_MEMBER"
    unknown = await carol.send_text(987654321, "hello?", "c-2")
    assert unknown.error.code in ("NOT_FOUND", "NOT_MEMBER")

    exactly_max = await alice.send_text(conv, "y" * 100_000, "max")
    assert exactly_max.sent.seq == 1, "nothing refused was stored: the first stored message is seq 1"
    for c in (alice, bob, carol):
        await assert_still_serving(c)
        await c.close()


@pytest.mark.parametrize("kind", ["bad", "expired"])
async def test_bad_or_expired_token_is_closed_with_4001(node: SingleNode, kind: str) -> None:
    client = await WireClient.open(node.ws_url)
    if kind == "bad":
        token = "not-a-token"
    else:
        secret = (node.data_dir / "token_secret").read_text().strip()
        token, _ = issue_token(secret, "alice", now_ms=1_000_000, ttl_ms=1_000)
    await client.send_frame(pb.ClientFrame(ref=1, hello=pb.Hello(token=token, device_id="d")))
    error = await next_error(client)
    assert error.code == "UNAUTHENTICATED"
    async with asyncio.timeout(10):
        await client.closed.wait()
    assert client.ws.close_code == 4001


async def test_first_frame_must_be_hello(node: SingleNode) -> None:
    client = await WireClient.open(node.ws_url)
    await client.send_frame(pb.ClientFrame(ref=1, ping=pb.Ping()))
    assert (await next_error(client)).code == "UNAUTHENTICATED"


async def test_typing_flood_is_rate_limited_and_others_are_unharmed(node: SingleNode) -> None:
    alice = await WireClient.sign_up(node.ws_url, "alice")
    bob = await WireClient.sign_up(node.ws_url, "bob")
    reply = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
    conv = reply.conversation.conversation_id
    for _ in range(200):
        await alice.send_frame(pb.ClientFrame(typing=pb.Typing(conversation_id=conv, active=True)))
    assert (await next_error(alice)).code == "RATE_LIMITED"
    typing_seen = await bob.next_push("typing")
    assert typing_seen.typing.user_id == "alice"
    # The flood cost bob at most a few typing events, and chat still flows both ways.
    sent = await bob.send_text(conv, "stop typing and talk", "b-1")
    assert sent.sent.seq == 1
    (got,) = await alice.messages(1, conv)
    assert got.body == "stop typing and talk"
    typing_events = [f for f in bob.drain_pushes() if f.WhichOneof("kind") == "typing"]
    assert len(typing_events) < 20
    for c in (alice, bob):
        await c.close()


async def test_a_closed_connection_does_not_take_the_node_down(node: SingleNode) -> None:
    alice = await WireClient.sign_up(node.ws_url, "alice")
    alice.ws.transport.abort()
    with pytest.raises((ConnectionClosed, ConnectionError, TimeoutError)):
        await alice.request(pb.ClientFrame(ping=pb.Ping()))
    bob = await WireClient.sign_up(node.ws_url, "bob")
    await assert_still_serving(bob)
    await bob.close()


async def test_an_undecodable_json_frame_echoes_its_ref_when_one_is_readable(node: SingleNode) -> None:
    """Regression: `{"ref":"3","history":{"conversationId":"-1"}}` was answered BAD_FRAME with
    ref 0, so the client could not tell which request failed."""
    async with connect(node.ws_url, subprotocols=["hubbub.v1.json"]) as ws:  # type: ignore[list-item]

        async def ask(frame: object) -> Any:
            await ws.send(orjson.dumps(frame).decode())
            async with asyncio.timeout(TIMEOUT_S):
                return orjson.loads(await ws.recv())

        hello = {"ref": "1", "hello": {"signUp": {"userId": "alice", "password": "correct horse"}}}
        assert "welcome" in await ask(hello)
        negative = await ask({"ref": "3", "history": {"conversationId": "-1"}})
        assert (negative["ref"], negative["error"]["code"]) == ("3", "BAD_FRAME")
        past_u64 = await ask({"ref": 4, "history": {"conversationId": str(2**64)}})
        assert (past_u64["ref"], past_u64["error"]["code"]) == ("4", "BAD_FRAME"), "not a uint64"
        past_i63 = await ask({"ref": "5", "history": {"conversationId": str(2**63)}})
        assert (past_i63["ref"], past_i63["error"]["code"]) == ("5", "INVALID_ARGUMENT")
        no_ref = await ask({"ref": "-6", "history": {"conversationId": "-1"}})
        assert "ref" not in no_ref and no_ref["error"]["code"] == "BAD_FRAME", "no readable ref: 0"
        assert "pong" in await ask({"ref": "7", "ping": {}}), "the connection stays"
