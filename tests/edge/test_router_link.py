"""The router link: batching of queued items, replay after reconnect, pending frames."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from edge import EdgeService, wire
from edge.router_link import RouterLink
from kernel import link_streams
from kernel.link_streams import LOCAL_INBOX_BATCHES
from protos import client_pb2 as pb
from protos import router_pb2 as rpb
from tests.edge.client import WsClient
from tests.edge.conftest import LINK_TRANSPORTS, Backends, Transport
from tests.edge.fakes import FakeRouter, RouterServer


@pytest.fixture(params=LINK_TRANSPORTS)
def link_transport(request: pytest.FixtureRequest) -> Transport:
    """Every test here that reaches a router runs over gRPC and over the local Link."""
    transport: Transport = request.param
    return transport


class BlockingStream:
    """A stand-in for the gRPC call whose writes finish only when the test says so."""

    def __init__(self) -> None:
        self.batches: list[rpb.EdgeBatch] = []
        self.writing = asyncio.Event()
        self.release = asyncio.Event()

    async def write(self, batch: bytes) -> None:
        self.batches.append(rpb.EdgeBatch.FromString(batch))
        self.writing.set()
        await self.release.wait()
        self.release.clear()


def ref(session_id: int) -> rpb.SessionRef:
    return rpb.SessionRef(session_id=session_id, user_id=f"u{session_id}", device_id="d")


def session(session_id: int) -> bytes:
    return wire.session_field(ref(session_id))


def frame(n: int) -> bytes:
    return pb.ClientFrame(ref=n, typing=pb.Typing(conversation_id=1)).SerializeToString()


async def test_everything_queued_during_a_write_goes_out_as_one_batch() -> None:
    link = RouterLink("unused:1", "edge-x", lambda: [ref(1)], lambda _: None, pending_limit=10)
    link._connected_now()  # queues the replay of session 1
    stream = BlockingStream()
    writer = asyncio.ensure_future(link._write(stream))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(30):
            await stream.writing.wait()
        stream.writing.clear()
        for n in range(5):
            assert link.enqueue_frame(session(1), frame(n))
        stream.release.set()
        async with asyncio.timeout(30):
            await stream.writing.wait()
        first, second = stream.batches
        assert [i.opened.replay for i in first.items] == [True]
        assert [i.frame.ref for i in second.items] == [0, 1, 2, 3, 4]
        assert second.edge_id == "edge-x"
        assert second.items[0].session == ref(1)
    finally:
        writer.cancel()


def test_while_down_frames_wait_up_to_the_limit_and_opens_closes_are_left_to_the_replay() -> None:
    link = RouterLink("unused:1", "edge-x", lambda: [ref(2)], lambda _: None, pending_limit=2)
    link.opened(session(1))
    assert link.enqueue_frame(session(1), frame(1)) and link.enqueue_frame(session(1), frame(2))
    assert not link.enqueue_frame(session(1), frame(3))  # backlog full: the client gets UNAVAILABLE
    link.closed(session(1), graceful=False)
    link._connected_now()
    items = list(link.pending().items)
    assert [i.WhichOneof("kind") for i in items] == ["opened", "frame", "frame"]
    assert items[0].session.session_id == 2 and items[0].opened.replay


async def test_reconnect_replays_live_sessions_first(edge: EdgeService, backends: Backends) -> None:
    client, welcome = await WsClient.authed(edge.ws_url, "alice")
    assert not (await backends.router.next_item("opened")).opened.replay
    port = backends.router_server.port
    await backends.router_server.stop(grace=0)
    second = FakeRouter()
    restarted: RouterServer = await backends.start_router(second, port=port)
    try:
        replayed = await second.next_item("opened")
        assert replayed.opened.replay and replayed.session.session_id == welcome.session_id
        assert replayed.session.user_id == "alice"
        sent = await client.request(
            pb.ClientFrame(ref=5, send=pb.SendMessage(conversation_id=3, client_msg_id="a", body="b"))
        )
        assert sent.sent.client_msg_id == "a"
        await client.close()
        (link,) = edge.links.links
        local = backends.link_transport == "local"
        assert link.local_connects == (link.connects if local else 0), "the transport under test"
    finally:
        await restarted.stop(grace=0)


class BrokenStream:
    async def write(self, batch: bytes) -> None:
        raise ConnectionError("link broke mid-write")


async def test_frames_of_a_failed_write_are_kept_for_the_next_link() -> None:
    link = RouterLink("unused:1", "edge-x", lambda: [ref(1)], lambda _: None, pending_limit=10)
    link._connected_now()
    assert link.enqueue_frame(session(1), frame(7)) and link.enqueue_frame(session(1), frame(8))
    with pytest.raises(ConnectionError):
        await link._write(BrokenStream())  # type: ignore[arg-type]
    link._disconnected()
    link._connected_now()
    items = list(link.pending().items)
    assert [i.WhichOneof("kind") for i in items] == ["opened", "frame", "frame"]
    assert [i.frame.ref for i in items[1:]] == [7, 8], "nothing the client sent is silently dropped"


def test_a_stalled_connected_link_stops_taking_frames_at_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edge.router_link.MAX_QUEUED_WHILE_CONNECTED", 3)
    link = RouterLink("unused:1", "edge-x", lambda: [], lambda _: None, pending_limit=1)
    link._connected_now()  # up, but nothing is writing: the router stopped reading
    assert all(link.enqueue_frame(session(1), frame(n)) for n in range(3))
    assert not link.enqueue_frame(session(1), frame(4)), "the client gets UNAVAILABLE instead"


class StalledRouter:
    """A router in this process (a local Link pump) that takes one batch and then stops
    reading until `resume` is set; it counts the frames it took."""

    def __init__(self) -> None:
        self.frames = 0
        self.batches = 0
        self.resume = asyncio.Event()
        self._took = asyncio.Condition()

    async def pump(self, batches: AsyncIterator[rpb.EdgeBatch]) -> AsyncGenerator[rpb.RouterBatch, None]:
        async def read() -> None:
            async for batch in batches:
                async with self._took:
                    self.batches += 1
                    self.frames += sum(item.HasField("frame") for item in batch.items)
                    self._took.notify_all()
                await self.resume.wait()

        reader = asyncio.create_task(read())
        try:
            await reader
            yield rpb.RouterBatch()  # never reached while the link lives
        finally:
            reader.cancel()

    async def took(self, frames: int) -> None:
        async with asyncio.timeout(30), self._took:
            await self._took.wait_for(lambda: self.frames >= frames)


async def test_a_local_router_that_stops_reading_bounds_the_edges_queue_and_loses_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cap = 5  # frames the edge queues for a connected router that does not take them
    monkeypatch.setattr("edge.router_link.MAX_QUEUED_WHILE_CONNECTED", cap)
    router = StalledRouter()
    unregister = link_streams.register("in-process:1", router.pump)
    link = RouterLink("in-process:1", "edge-x", lambda: [], lambda _: None, pending_limit=1)
    try:
        assert link.enqueue_frame(session(1), frame(0))  # before the link is up
        link.start()
        await router.took(1)  # the first batch: the router stalls after it
        accepted = 1
        for n in range(1, 200):
            if not link.enqueue_frame(session(1), frame(n)):
                break
            accepted += 1
            await asyncio.sleep(0)  # a loop turn: the writer may write what is queued
        else:
            raise AssertionError("a stalled local router let the edge queue without bound")
        assert router.batches == 1, "the router read nothing more"
        # At most: the batch taken, a batch (of up to `cap`) in each inbox slot and in the
        # waiting write, and `cap` queued behind it.
        assert accepted <= 1 + (LOCAL_INBOX_BATCHES + 1) * cap + cap
        router.resume.set()
        await router.took(accepted)  # everything accepted reaches the router, once
        assert router.frames == accepted and link.local_connects == link.connects == 1
    finally:
        await link.stop()
        unregister()
