"""The edge over real WebSockets, wired to fake router/messaging/presence gRPC servers."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from edge import EdgeService, start_edge
from kernel.clock import ManualClock
from kernel.protowire import varint
from kernel.tokens import issue_token
from protos import client_pb2 as pb
from protos import router_pb2 as rpb
from tests.edge.client import WsClient, token_for
from tests.edge.conftest import Backends
from tests.edge.fakes import SECRET


def send_frame(ref: int, body: str, conv: int = 42, cmid: str | None = None) -> pb.ClientFrame:
    message = pb.SendMessage(conversation_id=conv, client_msg_id=cmid or f"c-{ref}", body=body)
    return pb.ClientFrame(ref=ref, send=message)


async def test_token_hello_gets_welcome_and_the_router_and_presence_hear_of_it(
    edge: EdgeService, backends: Backends
) -> None:
    client, welcome = await WsClient.authed(edge.ws_url, "alice")
    assert (welcome.user_id, welcome.device_id, welcome.edge_id) == ("alice", "alice-dev", "edge-test")
    assert welcome.max_body_chars == 100_000 and welcome.heartbeat_timeout_ms == 3_000
    opened = await backends.router.next_item("opened")
    assert (opened.session.session_id, opened.session.user_id, opened.session.device_id) == (
        welcome.session_id,
        "alice",
        "alice-dev",
    )
    assert not opened.opened.replay
    change = await backends.presence.next_change(online=True)
    assert (change.user_id, change.session_id) == ("alice", welcome.session_id)
    assert edge.connections == 1
    await client.send(pb.ClientFrame(goodbye=pb.Goodbye()))
    assert await client.wait_closed() == 1000
    closed = await backends.router.next_item("closed")
    assert closed.session.session_id == welcome.session_id and closed.closed.graceful
    assert (await backends.presence.next_change(online=False)).session_id == welcome.session_id


async def test_send_is_acked_via_the_router_and_pushed_to_binary_and_json_clients(
    edge: EdgeService, backends: Backends
) -> None:
    alice, _ = await WsClient.authed(edge.ws_url, "alice")
    bob, _ = await WsClient.authed(edge.ws_url, "bob", binary=False)
    carol, _ = await WsClient.authed(edge.ws_url, "carol", binary=False)
    for _ in range(3):
        await backends.router.next_item("opened")
    sent = await alice.request(send_frame(7, "hello ✓"))
    assert (sent.sent.conversation_id, sent.sent.client_msg_id) == (42, "c-7")
    forwarded = await backends.router.next_item("send")
    assert forwarded.session.user_id == "alice" and forwarded.frame.ref == 7
    for client in (bob, carol):
        message = (await client.recv_kind("message")).message
        assert (message.body, message.sender_id) == ("hello ✓", "alice")
    # A JSON client speaks JSON back: frame ids as strings, lowerCamelCase names.
    await bob.ws.send('{"ref": "3", "send": {"conversationId": "42", "clientMsgId": "b-1", "body": "yo"}}')
    raw = await bob.ws.recv()
    assert isinstance(raw, str)
    assert orjson.loads(raw)["sent"]["clientMsgId"] == "b-1"
    for client in (alice, bob, carol):
        await client.close()


async def test_garbage_unknown_and_oversize_frames_get_codes_and_the_connection_stays(
    edge: EdgeService, backends: Backends
) -> None:
    alice, _ = await WsClient.authed(edge.ws_url, "alice")
    bob, _ = await WsClient.authed(edge.ws_url, "bob", binary=False)
    await alice.ws.send(b"\xff\x00garbage\x13\x37")
    assert (await alice.recv()).error.code == "BAD_FRAME"
    await alice.ws.send(b"\x98\x06\x01")  # field 99: a kind this server does not know
    assert (await alice.recv()).error.code == "BAD_FRAME"
    too_large = await alice.request(send_frame(8, "x" * 100_001))
    assert (too_large.error.code, too_large.error.fatal) == ("TOO_LARGE", False)
    empty = await alice.request(send_frame(9, ""))
    assert empty.error.code == "INVALID_ARGUMENT"
    await bob.ws.send("this is not json {")
    assert (await bob.recv()).error.code == "BAD_FRAME"
    await alice.assert_serving()
    await bob.assert_serving()
    ok = await alice.request(send_frame(10, "x" * 100_000))
    assert ok.WhichOneof("kind") == "sent"
    # Nothing refused reached the router: the only send it saw is the valid one.
    assert (await backends.router.next_item("send")).frame.ref == 10
    for client in (alice, bob):
        await client.close()


async def test_fragmented_messages_and_non_utf8_text_frames(edge: EdgeService, backends: Backends) -> None:
    alice, _ = await WsClient.authed(edge.ws_url, "alice")
    bob, _ = await WsClient.authed(edge.ws_url, "bob", binary=False)
    # A message split over several WebSocket frames is one ClientFrame, forwarded unchanged.
    data = send_frame(11, "fragmented ✓").SerializeToString()
    await alice.ws.send([data[:3], data[3:9], data[9:]])
    assert (await alice.recv()).sent.client_msg_id == "c-11"
    forwarded = await backends.router.next_item("send")
    assert forwarded.frame.SerializeToString() == data
    # A text frame that is not UTF-8 is a bad frame; the connection stays.
    await bob.ws.send(b"\xff\xfe{}", text=True)
    assert (await bob.recv_kind("error")).error.code == "BAD_FRAME"
    await bob.assert_serving()
    for client in (alice, bob):
        await client.close()


async def test_unknown_fields_of_a_routed_frame_stay_at_the_edge(
    edge: EdgeService, backends: Backends
) -> None:
    alice, _ = await WsClient.authed(edge.ws_url, "alice")
    # Unknown fields (a newer client's extras, or padding, at the top level and nested) are
    # not forwarded: the router gets the known fields, re-encoded (issue 7, finding 1).
    clean = send_frame(12, "hi")
    padding = b"\x9a\x06" + varint(50_000) + b"p" * 50_000  # field 99, length-delimited
    send_bytes = clean.send.SerializeToString() + b"\x98\x06\x01"
    data = b"\x08\x0c" + b"\x5a" + varint(len(send_bytes)) + send_bytes + padding
    assert pb.ClientFrame.FromString(data).send.body == "hi"
    await alice.ws.send(data)
    assert (await alice.recv()).sent.client_msg_id == "c-12"
    forwarded = await backends.router.next_item("send")
    assert forwarded.frame == clean
    assert forwarded.frame.SerializeToString() == clean.SerializeToString()
    assert forwarded.ByteSize() < 100, "no padding rides along"
    await alice.close()


@pytest.mark.parametrize("token", ["not-a-token", "expired"])
async def test_bad_token_is_closed_with_4001_and_others_are_unharmed(edge: EdgeService, token: str) -> None:
    other, _ = await WsClient.authed(edge.ws_url, "alice")
    client = await WsClient.open(edge.ws_url)
    if token == "expired":
        token = issue_token(SECRET, "mallory", 1_000, 1_000)[0]
    await client.send(pb.ClientFrame(ref=1, hello=pb.Hello(token=token, device_id="d")))
    error = (await client.recv()).error
    assert (error.code, error.fatal) == ("UNAUTHENTICATED", True)
    assert await client.wait_closed() == 4001
    await other.assert_serving()
    await other.close()


async def test_first_frame_not_hello_is_closed_with_4001(edge: EdgeService) -> None:
    client = await WsClient.open(edge.ws_url)
    await client.send(pb.ClientFrame(ref=1, ping=pb.Ping()))
    assert (await client.recv()).error.code == "UNAUTHENTICATED"
    assert await client.wait_closed() == 4001


async def test_log_in_through_accounts_returns_a_token(edge: EdgeService) -> None:
    client = await WsClient.open(edge.ws_url, binary=False)
    creds = pb.Credentials(user_id="bob", password="password123")
    welcome = await client.request(pb.ClientFrame(ref=4, hello=pb.Hello(log_in=creds, device_id="web")))
    assert welcome.welcome.user_id == "bob" and welcome.welcome.token
    await client.assert_serving()
    await client.close()
    wrong = await WsClient.open(edge.ws_url)
    bad = pb.Credentials(user_id="bob", password="nope")
    await wrong.send(pb.ClientFrame(ref=4, hello=pb.Hello(log_in=bad, device_id="web")))
    error = (await wrong.recv()).error
    assert (error.code, error.fatal) == ("UNAUTHENTICATED", True)
    assert await wrong.wait_closed() == 4001


async def test_queries_are_answered_from_messaging_echoing_ref(edge: EdgeService) -> None:
    client, _ = await WsClient.authed(edge.ws_url, "alice")
    page = await client.request(pb.ClientFrame(ref=21, history=pb.FetchHistory(conversation_id=1)))
    assert [m.seq for m in page.history.messages] == [1, 2]
    missing = await client.request(pb.ClientFrame(ref=22, history=pb.FetchHistory(conversation_id=5)))
    assert (missing.error.code, missing.error.fatal) == ("NOT_FOUND", False)
    resume = pb.Resume(cursors=[pb.ConversationCursor(conversation_id=c, seq=3) for c in (1, 2)])
    await client.send(pb.ClientFrame(ref=23, resume=resume))
    frames = [await client.recv() for _ in range(3)]
    assert [f.WhichOneof("kind") for f in frames] == ["history", "history", "resume_done"]
    assert all(f.ref == 23 for f in frames) and frames[-1].resume_done.conversations == 2
    read_by = await client.request(pb.ClientFrame(ref=24, read_by=pb.ReadBy(conversation_id=1, seq=2)))
    assert list(read_by.read_by.read_by) == ["carol"]
    unimplemented = await client.request(pb.ClientFrame(ref=25, list_conversations=pb.ListConversations()))
    assert unimplemented.error.code and not unimplemented.error.fatal
    await client.close()


async def test_silence_closes_with_4008(edge: EdgeService, clock: ManualClock) -> None:
    client, _ = await WsClient.authed(edge.ws_url, "alice")
    quiet_but_fine, _ = await WsClient.authed(edge.ws_url, "bob")
    await client.assert_serving()
    clock.advance(3_000)
    await quiet_but_fine.assert_serving()  # a ping restarts bob's timer; alice stays silent
    error = await client.recv()
    assert (error.error.code, error.error.fatal) == ("HEARTBEAT_TIMEOUT", True)
    assert await client.wait_closed() == 4008
    await quiet_but_fine.assert_serving()
    await quiet_but_fine.close()


async def test_slow_consumer_is_closed_with_4009_and_others_are_unharmed(
    backends: Backends, clock: ManualClock
) -> None:
    edge = await start_edge(backends.edge_config(send_queue_limit=8), clock=clock)
    try:
        fine, _ = await WsClient.authed(edge.ws_url, "bob")
        sock = socket.create_connection(edge.ws_url.removeprefix("ws://").split(":"))  # type: ignore[arg-type]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow, welcome = await WsClient.authed(edge.ws_url, "slow", sock=sock, max_queue=1)
        while (await backends.router.next_item("opened")).session.session_id != welcome.session_id:
            pass
        big = pb.ServerFrame(message=pb.Message(conversation_id=1, body="z" * 60_000)).SerializeToString()
        batch = rpb.RouterBatch(items=[rpb.RouterItem(session_ids=[welcome.session_id], frame=big)] * 20)

        async def flood() -> None:
            while True:
                await backends.router.push(batch)

        flooding = asyncio.ensure_future(flood())
        try:
            closed = await backends.router.next_item("closed", wait_s=60)
        finally:
            flooding.cancel()
        assert closed.session.session_id == welcome.session_id and not closed.closed.graceful
        last: pb.ServerFrame | None = None
        async with asyncio.timeout(60):
            with pytest.raises(ConnectionClosed):
                while True:
                    data = await slow.ws.recv()
                    assert isinstance(data, bytes)
                    last = pb.ServerFrame.FromString(data)
        assert last is not None and last.error.code == "SLOW_CONSUMER"
        assert slow.ws.close_code == 4009
        await fine.assert_serving()
        await fine.close()
    finally:
        await edge.stop()


async def test_stop_closes_clients_with_1001(backends: Backends, clock: ManualClock) -> None:
    edge = await start_edge(backends.edge_config(), clock=clock)
    client, _ = await WsClient.authed(edge.ws_url, "alice")
    await edge.stop()
    assert await client.wait_closed() == 1001


async def test_no_subprotocol_means_json_and_compression_can_be_enabled(
    backends: Backends, clock: ManualClock
) -> None:
    edge = await start_edge(backends.edge_config(ws_compression=True), clock=clock)
    try:
        async with connect(edge.ws_url) as ws:
            assert ws.subprotocol is None
            hello = {"ref": 1, "hello": {"token": token_for("alice"), "deviceId": "cli"}}
            await ws.send(orjson.dumps(hello).decode())
            reply = orjson.loads(await ws.recv())
            assert reply["welcome"]["userId"] == "alice"
            assert ws.response is not None and "permessage-deflate" in (
                ws.response.headers.get("Sec-WebSocket-Extensions") or ""
            )
    finally:
        await edge.stop()


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_only_w3c_trace_context_within_its_caps_travels_on(
    edge: EdgeService, backends: Backends
) -> None:
    """Regression: the client's `trace` map (any keys, any size) went to the router as-is."""
    alice, _ = await WsClient.authed(edge.ws_url, "alice")
    frame = send_frame(31, "hi")
    frame.trace.update({"traceparent": TRACEPARENT, "tracestate": "v" * 513, "padding": "p" * 100_000})
    await alice.send(frame)
    assert (await alice.recv()).sent.client_msg_id == "c-31"
    forwarded = await backends.router.next_item("send")
    assert dict(forwarded.frame.trace) == {"traceparent": TRACEPARENT}, "tracestate over 512: dropped"
    frame = send_frame(32, "again")
    frame.trace.update({"traceparent": TRACEPARENT + "0", "tracestate": "vendor=1"})
    await alice.send(frame)
    assert (await alice.recv()).sent.client_msg_id == "c-32"
    forwarded = await backends.router.next_item("send")
    assert dict(forwarded.frame.trace) == {"tracestate": "vendor=1"}, "traceparent over 55: dropped"
    await alice.close()


async def test_unknown_fields_of_a_query_stay_at_the_edge(edge: EdgeService, backends: Backends) -> None:
    """Regression: a query's submessage (history, resume) went to messaging with its padding."""
    alice, _ = await WsClient.authed(edge.ws_url, "alice")
    query = pb.FetchHistory(conversation_id=1).SerializeToString()
    padded = query + b"\x9a\x06" + varint(50_000) + b"p" * 50_000  # field 99, length-delimited
    data = b"\x08\x29" + b"\x82\x01" + varint(len(padded)) + padded  # ref 41, history (field 16)
    assert pb.ClientFrame.FromString(data).history.conversation_id == 1
    await alice.ws.send(data)
    page = await alice.recv()
    assert (page.ref, [m.seq for m in page.history.messages]) == (41, [1, 2])
    (request,) = [r for r in backends.messaging.requests if r.query.conversation_id == 1]
    assert request.query == pb.FetchHistory(conversation_id=1)
    assert request.ByteSize() < 100, "no padding rides along"
    await alice.close()
