"""An edge in its own process reports its load to a real discovery service and learns from it
that it is draining (Discovery.ReportLoad, Discovery.WatchNodes)."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect

from discovery import DiscoveryConfig, NodeInfo, NodeKind, StaticRegistry, start_discovery
from edge import start_edge
from tests.edge.conftest import Backends
from tests.edge.test_drain import Member

TIMEOUT_S = 20.0
SECRET = "discovery-secret"


async def test_an_edge_reports_its_load_and_follows_its_drain_mark(backends: Backends) -> None:
    registry = StaticRegistry([NodeInfo("edge-test", NodeKind.EDGE, "127.0.0.1:1", "ws://x")])
    discovery = await start_discovery(DiscoveryConfig(internal_secret=SECRET), registry)
    config = backends.edge_config(
        discovery_target=discovery.target, load_report_interval_ms=20, internal_secret=SECRET
    )
    edge = await start_edge(config)
    member = Member(10_000)  # an authenticated session, as far as draining goes
    edge.ctx.hub.add(member)
    edge.ctx.hub.register(member)
    try:
        async with connect(edge.ws_url), asyncio.timeout(TIMEOUT_S):  # one more connection
            async for nodes in registry.watch(NodeKind.EDGE):
                if nodes[0].connections == 2:
                    break
        await registry.set_draining("edge-test", True)
        async with asyncio.timeout(TIMEOUT_S):
            await member.told.wait()
        assert member.sent[0].reconnect.reason == "draining" and edge.drainer.draining
    finally:
        await edge.stop()
        await discovery.stop(0)
        await registry.close()
