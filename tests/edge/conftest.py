"""Fixtures: fake router/messaging/presence servers on port 0 and an edge wired to them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Literal

import pytest

from edge import EdgeConfig, EdgeService, start_edge
from kernel.clock import ManualClock
from kernel.grpc_server import GrpcService
from tests.edge.fakes import (
    NOW_MS,
    SECRET,
    FakeMessaging,
    FakePresence,
    FakeRouter,
    RouterServer,
    start_messaging,
    start_presence,
    start_router,
)

Transport = Literal["grpc", "local"]


@dataclass
class Backends:
    router: FakeRouter
    router_server: RouterServer
    messaging: FakeMessaging
    messaging_server: GrpcService
    presence: FakePresence
    presence_server: GrpcService
    link_transport: Transport = "grpc"

    async def start_router(self, router: FakeRouter, port: int = 0) -> RouterServer:
        """Another router, reached over this test's Link transport."""
        return await start_router(router, port, local=self.link_transport == "local")

    def edge_config(self, **overrides: object) -> EdgeConfig:
        base = EdgeConfig(
            edge_id="edge-test",
            router_targets=(self.router_server.target,),
            messaging_target=self.messaging_server.target,
            presence_target=self.presence_server.target,
            token_secret=SECRET,
            heartbeat_interval_ms=1_000,
            heartbeat_timeout_ms=3_000,
            presence_lease_ms=3_000,
        )
        return replace(base, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def link_transport() -> Transport:
    """How the edge reaches the fake router: gRPC; the Link's test modules run both (a
    module's own `link_transport` fixture with params)."""
    return "grpc"


@pytest.fixture
async def backends(link_transport: Transport) -> AsyncIterator[Backends]:
    # The fakes implement only what the edge calls; the rest stays unimplemented.
    router, messaging, presence = FakeRouter(), FakeMessaging(), FakePresence()  # type: ignore[abstract]
    router_server = await start_router(router, local=link_transport == "local")
    servers = [await start_messaging(messaging), await start_presence(presence)]
    try:
        yield Backends(router, router_server, messaging, servers[0], presence, servers[1], link_transport)
    finally:
        await router_server.stop(grace=0)
        for server in servers:
            await server.stop(grace=0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW_MS)


@pytest.fixture
async def edge(backends: Backends, clock: ManualClock) -> AsyncIterator[EdgeService]:
    service = await start_edge(backends.edge_config(), clock=clock)
    try:
        yield service
    finally:
        await service.stop()


LINK_TRANSPORTS: tuple[Transport, ...] = ("grpc", "local")
