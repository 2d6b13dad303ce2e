"""Bounds in bytes at the edge (issue 7, findings 1 and 2): router-link batches are cut below
the gRPC message limit, an item none can carry is refused, a frame is not re-queued forever,
and an outbox is closed by bytes waiting as well as by frames."""

from __future__ import annotations

import asyncio
import base64

import pytest
from websockets.exceptions import ConnectionClosed

from edge import EdgeConfig, EdgeService, start_edge, wire
from edge.config import DEFAULT_MAX_FRAME_BYTES, MIN_FRAME_BYTES
from edge.connection import Connection
from edge.outbox import Outbox
from edge.router_link import MAX_WRITE_ATTEMPTS, RouterLink
from kernel.clock import ManualClock
from kernel.errors import InvalidArgument, TooLarge
from kernel.grpc_server import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES
from kernel.limits import MAX_BODY_CHARS, MAX_CLIENT_MSG_ID_CHARS, MAX_CONTENT_TYPE_CHARS, MAX_PAYLOAD_BYTES
from protos import client_pb2 as pb
from protos import router_pb2 as rpb
from tests.edge.client import WsClient
from tests.edge.conftest import Backends

MIB = 1024 * 1024


def session(session_id: int) -> bytes:
    return wire.session_field(rpb.SessionRef(session_id=session_id, user_id=f"u{session_id}", device_id="d"))


def big_frame(ref: int, size: int) -> bytes:
    send = pb.SendMessage(conversation_id=1, client_msg_id=f"c-{ref}", payload=b"p" * size)
    return pb.ClientFrame(ref=ref, send=send).SerializeToString()


class RecordingStream:
    """Takes every write at once and keeps what it got."""

    def __init__(self, wanted: int) -> None:
        self.sizes: list[int] = []
        self.refs: list[int] = []
        self.done = asyncio.Event()
        self._wanted = wanted

    async def write(self, batch: bytes) -> None:
        self.sizes.append(len(batch))
        self.refs.extend(item.frame.ref for item in rpb.EdgeBatch.FromString(batch).items)
        if len(self.refs) >= self._wanted:
            self.done.set()


async def test_a_backlog_larger_than_one_grpc_message_goes_out_in_several_batches() -> None:
    link = RouterLink("unused:1", "edge-x", lambda: [], lambda _: None, pending_limit=100)
    # Twenty 1.5 MiB frames: 30 MiB queued while the link was down, like the four clients of
    # the finding pipelining maximum-size sends.
    for ref in range(1, 21):
        assert link.enqueue_frame(session(1), big_frame(ref, 3 * MIB // 2))
    link._connected_now()
    stream = RecordingStream(wanted=20)
    writer = asyncio.ensure_future(link._write(stream))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(30):
            await stream.done.wait()
    finally:
        writer.cancel()
    assert stream.refs == list(range(1, 21)), "every frame, in order"
    assert len(stream.sizes) >= 2 and max(stream.sizes) <= MAX_MESSAGE_BYTES
    assert link.queued_bytes == 0


def test_a_frame_no_batch_can_carry_is_refused_and_the_link_keeps_taking_others() -> None:
    link = RouterLink("unused:1", "edge-x", lambda: [], lambda _: None, pending_limit=100)
    with pytest.raises(TooLarge):
        link.enqueue_frame(session(1), big_frame(1, MAX_BATCH_BYTES))
    assert link.queued_bytes == 0 and not link.pending().items
    assert link.enqueue_frame(session(1), big_frame(2, 10))
    assert [i.frame.ref for i in link.pending().items] == [2]


def test_the_backlog_is_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edge.router_link.MAX_QUEUED_BYTES", 4 * MIB)
    link = RouterLink("unused:1", "edge-x", lambda: [], lambda _: None, pending_limit=10_000)
    accepted = 0
    while link.enqueue_frame(session(1), big_frame(accepted, MIB // 2)):
        accepted += 1
    assert accepted == 7 and link.queued_bytes <= 4 * MIB, "the sender gets UNAVAILABLE beyond"


class BrokenStream:
    async def write(self, batch: bytes) -> None:
        raise ConnectionError("link broke mid-write")


async def test_a_frame_in_too_many_failed_writes_is_dropped_and_its_sender_told() -> None:
    dropped: list[rpb.EdgeItem] = []
    link = RouterLink(
        "unused:1",
        "edge-x",
        lambda: [],
        lambda _: None,
        pending_limit=10,
        on_dropped=lambda item: dropped.append(rpb.EdgeItem.FromString(item)),
    )
    assert link.enqueue_frame(session(5), big_frame(9, 10))
    for attempt in range(MAX_WRITE_ATTEMPTS):
        link._connected_now()
        with pytest.raises(ConnectionError):
            await link._write(BrokenStream())  # type: ignore[arg-type]
        link._disconnected()
        if attempt < MAX_WRITE_ATTEMPTS - 1:
            assert [i.frame.ref for i in link.pending().items] == [9], "kept for the next link"
    assert not link.pending().items and link.queued_bytes == 0, "not re-queued at the head forever"
    assert [(i.session.session_id, i.frame.ref) for i in dropped] == [(5, 9)]


class SlowTransport:
    """A socket that takes nothing: every write parks until released; `unsent` is what the
    transport would report as its own buffer."""

    def __init__(self) -> None:
        self.unsent = 0
        self.release = asyncio.Event()
        self.writing = asyncio.Event()
        self.closed_with: int | None = None

    def write_now(self, items: list[bytes]) -> bool:
        return False

    def buffered_bytes(self) -> int:
        return self.unsent

    async def send_batch(self, items: list[bytes]) -> None:
        self.unsent += sum(map(len, items))
        self.writing.set()
        await self.release.wait()

    async def close(self, code: int, reason: str, final: list[bytes]) -> None:
        self.closed_with = code


async def test_an_outbox_refuses_by_bytes_waiting_its_own_and_the_sockets() -> None:
    transport = SlowTransport()
    outbox = Outbox(transport, limit=1000, limit_bytes=MIB)
    assert outbox.put(b"x" * (MIB // 2))
    async with asyncio.timeout(30):
        await transport.writing.wait()  # the writer task took the batch and is parked on it
    assert transport.unsent == MIB // 2 and outbox.queued_bytes == MIB // 2
    assert outbox.put(b"y" * (MIB // 4))
    assert not outbox.put(b"z" * (MIB // 4 + 1)), "the socket's unsent bytes count too"
    assert outbox.peak_bytes <= MIB
    await outbox.stop()


class FastTransport(SlowTransport):
    """Takes every write at once into its buffer, which drains when the test says."""

    def write_now(self, items: list[bytes]) -> bool:
        self.unsent += sum(map(len, items))
        self.writing.set()
        return True


async def test_a_drained_socket_buffer_no_longer_counts() -> None:
    transport = FastTransport()
    outbox = Outbox(transport, limit=1000, limit_bytes=MIB)
    assert outbox.put(b"x" * (3 * MIB // 4))
    async with asyncio.timeout(30):
        await transport.writing.wait()  # written at once: it now waits in the socket's buffer
    assert outbox.queued_bytes == 3 * MIB // 4
    assert not outbox.put(b"y" * (MIB // 2)), "still unsent: too much would wait"
    transport.unsent = 0  # the client read it all
    assert outbox.put(b"y" * (MIB // 2)), "a client that caught up is not closed"
    await outbox.stop()


async def test_one_frame_larger_than_the_limit_still_goes_to_an_idle_client() -> None:
    outbox = Outbox(SlowTransport(), limit=1000, limit_bytes=MIB)
    assert outbox.put(b"x" * (2 * MIB)), "a reply page bigger than the limit, nothing waiting"
    assert not outbox.put(b"y"), "but nothing more while it waits"
    await outbox.stop()


async def test_a_client_that_never_reads_is_closed_4009_by_bytes_queued(
    backends: Backends, clock: ManualClock
) -> None:
    """Issue 7, finding 2: history answers piled up (frames well under send_queue_limit) until
    the edge held gigabytes. Now the bytes waiting decide, the socket's own buffer included."""
    limit = 2 * MIB
    edge = await start_edge(backends.edge_config(send_queue_bytes=limit), clock=clock)
    try:
        bystander, _ = await WsClient.authed(edge.ws_url, "bob")
        # max_queue=1: past one unread message the client stops reading its socket, so once
        # the kernel's buffers are full everything waits at the edge.
        slow, welcome = await WsClient.authed(edge.ws_url, "slow", max_queue=1)
        (connection,) = [m for m in edge.ctx.hub.members() if m.ref.session_id == welcome.session_id]
        assert isinstance(connection, Connection)
        history = pb.FetchHistory(conversation_id=2, limit=10)
        for ref in range(1, 145):  # 144 requests of a few bytes, each answered with ~1 MB
            await slow.send(pb.ClientFrame(ref=ref, history=history))
        closed = await backends.router.next_item("closed", wait_s=60)
        assert closed.session.session_id == welcome.session_id and not closed.closed.graceful
        assert connection.close_code == 4009
        assert connection.outbox.peak_bytes <= limit, "the edge's queued bytes stay bounded"
        last: pb.ServerFrame | None = None
        async with asyncio.timeout(60):
            with pytest.raises(ConnectionClosed):
                while True:
                    data = await slow.ws.recv()
                    assert isinstance(data, bytes)
                    last = pb.ServerFrame.FromString(data)
        assert last is not None and last.error.code == "SLOW_CONSUMER"
        assert slow.ws.close_code == 4009
        await bystander.assert_serving()
        await bystander.close()
    finally:
        await edge.stop()


async def test_a_frame_too_large_to_route_is_answered_too_large_and_the_link_stays_up(
    edge: EdgeService, backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    # max_frame_bytes keeps such frames out today; the edge still refuses one it could not carry.
    monkeypatch.setattr("edge.wire.MAX_FRAME_BYTES", 1_000)
    alice, _ = await WsClient.authed(edge.ws_url, "alice")
    big = pb.ClientFrame(ref=1, send=pb.SendMessage(conversation_id=4, client_msg_id="a-1", body="b" * 2_000))
    reply = await alice.request(big)
    assert (reply.ref, reply.error.code, reply.error.retryable) == (1, "TOO_LARGE", False)
    small = pb.ClientFrame(ref=2, send=pb.SendMessage(conversation_id=4, client_msg_id="a-2", body="fits"))
    assert (await alice.request(small)).sent.client_msg_id == "a-2"
    assert (await backends.router.next_item("send")).frame.send.client_msg_id == "a-2", (
        "the big one never left"
    )
    await alice.close()


def escaped(text: str) -> str:
    """`text` as a JSON string body with every character \\u-escaped (surrogate pairs above
    the BMP), as `json.dumps(ensure_ascii=True)` does for non-ASCII: the largest encoding."""
    units = text.encode("utf-16-be")
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))


async def test_the_largest_legal_send_in_any_encoding_fits_max_frame_bytes(
    edge: EdgeService, backends: Backends
) -> None:
    body = "\N{GRINNING FACE}" * MAX_BODY_CHARS
    payload = base64.b64encode(bytes(MAX_PAYLOAD_BYTES)).decode()
    cmid = escaped("c" * MAX_CLIENT_MSG_ID_CHARS)
    content_type = escaped("\N{GRINNING FACE}" * MAX_CONTENT_TYPE_CHARS)
    send = f'"conversationId": "42", "clientMsgId": "{cmid}", "contentType": "{content_type}"'
    text = f'{{"ref": "1", "send": {{{send}, "body": "{escaped(body)}", "payload": "{payload}"}}}}'
    assert len(text.encode()) <= DEFAULT_MAX_FRAME_BYTES == edge.config.max_frame_bytes
    alice, _ = await WsClient.authed(edge.ws_url, "alice", binary=False)
    await alice.ws.send(text)
    reply = await alice.recv()
    assert reply.ref == 1 and reply.WhichOneof("kind") == "sent", reply.error
    forwarded = await backends.router.next_item("send")
    assert forwarded.frame.send.body == body and len(forwarded.frame.send.payload) == MAX_PAYLOAD_BYTES
    await alice.close()


def test_frame_and_queue_byte_limits_are_validated() -> None:
    assert MIN_FRAME_BYTES <= DEFAULT_MAX_FRAME_BYTES
    with pytest.raises(InvalidArgument):
        EdgeConfig(max_frame_bytes=MAX_MESSAGE_BYTES)  # could not always be routed
    with pytest.raises(InvalidArgument):
        EdgeConfig(max_frame_bytes=MIN_FRAME_BYTES - 1)  # would refuse a legal binary send
    with pytest.raises(InvalidArgument):
        EdgeConfig(send_queue_bytes=1_000)
    with pytest.raises(InvalidArgument):
        EdgeConfig(edge_id="e" * 257)
