"""What ends a Link, on both transports (gRPC, and an edge in the router's process through
kernel/link_streams.py): the router stopping ends it like a stream ending and refuses new ones;
a first batch that names no edge is refused INVALID_ARGUMENT. (An edge's link ending drops its
sessions: test_link_errors.py, over both.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from grpc import aio

from edge.link_grpc import GrpcLinkStream
from kernel import link_streams
from kernel.errors import ErrorCode, HubbubError
from kernel.link_streams import LinkStream, LocalLinkStream
from protos import client_pb2, router_pb2
from router import MemoryPushNotifier, RouterConfig, RouterService, start_router
from tests.router.conftest import LINK_TRANSPORTS
from tests.router.edge_client import FakeEdge
from tests.router.fakes import FakeBackends

WAIT_S = 30.0


def open_stream(router: RouterService, transport: str) -> LinkStream:
    if transport == "local":
        return LocalLinkStream(router.pump.local)
    return GrpcLinkStream(router.target, ())


def opened(session_id: int, user_id: str) -> bytes:
    ref = router_pb2.SessionRef(session_id=session_id, user_id=user_id, device_id="d")
    item = router_pb2.EdgeItem(session=ref, opened=router_pb2.SessionOpened())
    return router_pb2.EdgeBatch(edge_id="edge-1", items=[item]).SerializeToString()


@pytest.fixture
async def own_router(fakes: FakeBackends) -> AsyncIterator[RouterService]:
    """A router the test stops itself (stopping it again is harmless)."""
    config = RouterConfig(
        messaging_target=fakes.messaging_service.target, presence_target=fakes.presence_service.target
    )
    service = await start_router(config, push=MemoryPushNotifier())
    yield service
    await service.stop()


@pytest.mark.parametrize("transport", LINK_TRANSPORTS)
async def test_a_stopping_router_ends_its_links_and_takes_no_new_one(
    fakes: FakeBackends, own_router: RouterService, transport: str
) -> None:
    fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_DIRECT, ["ann", "ben"])
    unregister = (
        link_streams.register(own_router.target, own_router.pump.local) if transport == "local" else None
    )
    try:
        edge = await FakeEdge(own_router.target, "edge-1").connect()
        edge.open(1, "ann", "p")
        await edge.registered(1)
        await own_router.stop()
        async with asyncio.timeout(WAIT_S):
            await edge.ended.wait()  # the edge sees the stream end, and reconnects with backoff
        await edge.abort()
    finally:
        if unregister is not None:
            unregister()
    again = open_stream(own_router, transport)
    try:
        with pytest.raises((HubbubError, aio.AioRpcError)) as refused:
            async with asyncio.timeout(WAIT_S):
                await again.write(opened(2, "ben"))
                async for _ in again:
                    pass
        if isinstance(refused.value, HubbubError):
            assert refused.value.code is ErrorCode.UNAVAILABLE
    finally:
        await again.close()


async def test_a_local_link_still_waiting_for_its_first_batch_ends_when_the_router_stops(
    own_router: RouterService,
) -> None:
    """An edge with no sessions yet has written nothing; the router stopping must still end its
    link (it reconnects), not let its first frame reach the stopped router."""
    stream = LocalLinkStream(own_router.pump.local)
    reading = asyncio.create_task(_drain(stream))
    try:
        await asyncio.sleep(0)  # the reader's first step: it waits for the first batch
        assert own_router.pump.starting == 1
        await own_router.stop()
        with pytest.raises(HubbubError) as ended:
            async with asyncio.timeout(WAIT_S):
                await stream.write(opened(1, "ann"))
                await reading
        assert ended.value.code is ErrorCode.UNAVAILABLE
        assert not own_router.core.ctx.links.linked("edge-1")
    finally:
        reading.cancel()
        await stream.close()


async def _drain(stream: LinkStream) -> None:
    async for _ in stream:
        pass


async def test_a_local_link_without_an_edge_id_is_refused(router: RouterService) -> None:
    stream = LocalLinkStream(router.pump.local)
    try:
        await stream.write(router_pb2.EdgeBatch(items=[]).SerializeToString())
        with pytest.raises(HubbubError) as refused:
            async with asyncio.timeout(WAIT_S):
                async for _ in stream:
                    pass
        assert refused.value.code is ErrorCode.INVALID_ARGUMENT
    finally:
        await stream.close()
