"""Fixtures: fake router/messaging/presence servers on port 0 and an edge wired to them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

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
    start_messaging,
    start_presence,
    start_router,
)


@dataclass
class Backends:
    router: FakeRouter
    router_server: GrpcService
    messaging: FakeMessaging
    messaging_server: GrpcService
    presence: FakePresence
    presence_server: GrpcService

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
async def backends() -> AsyncIterator[Backends]:
    # The fakes implement only what the edge calls; the rest stays unimplemented.
    router, messaging, presence = FakeRouter(), FakeMessaging(), FakePresence()  # type: ignore[abstract]
    servers = [await start_router(router), await start_messaging(messaging), await start_presence(presence)]
    try:
        yield Backends(router, servers[0], messaging, servers[1], presence, servers[2])
    finally:
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
