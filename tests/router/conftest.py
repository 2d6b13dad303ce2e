"""Fixtures: the fake messaging/presence servers and a router wired to them, all on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from kernel import link_streams
from kernel.clock import ManualClock
from router import MemoryPushNotifier, RouterConfig, RouterService, start_router
from tests.router.edge_client import FakeEdge
from tests.router.fakes import FakeBackends, start_fakes


@pytest.fixture
async def fakes() -> AsyncIterator[FakeBackends]:
    backends = await start_fakes()
    try:
        yield backends
    finally:
        await backends.stop()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def router(fakes: FakeBackends, clock: ManualClock) -> AsyncIterator[RouterService]:
    config = RouterConfig(
        messaging_target=fakes.messaging_service.target,
        presence_target=fakes.presence_service.target,
    )
    service = await start_router(config, clock=clock, push=MemoryPushNotifier())
    try:
        yield service
    finally:
        await service.stop()


LINK_TRANSPORTS = ("grpc", "local")


@pytest.fixture(params=LINK_TRANSPORTS)
def link_transport(request: pytest.FixtureRequest, router: RouterService) -> Iterator[str]:
    """Every test of the Link runs over both transports: gRPC, and (local) an edge in the
    router's process, registered as deploy/services.py registers it."""
    if request.param == "grpc":
        yield "grpc"
        return
    unregister = link_streams.register(router.target, router.pump.local)
    try:
        yield "local"
    finally:
        unregister()


@pytest.fixture
async def edges(
    router: RouterService, link_transport: str
) -> AsyncIterator[Callable[[str], Awaitable[FakeEdge]]]:
    """A factory of connected fake edges (over `link_transport`); every one is closed at the end."""
    opened: list[FakeEdge] = []

    async def connect(edge_id: str) -> FakeEdge:
        edge = await FakeEdge(router.target, edge_id).connect()
        opened.append(edge)
        return edge

    yield connect
    for edge in opened:
        await edge.abort()


def memory_push(router: RouterService) -> MemoryPushNotifier:
    assert isinstance(router.push, MemoryPushNotifier)
    return router.push
