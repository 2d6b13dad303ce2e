"""Bench clients on a cluster ask discovery for their edge (bench/discovered.py): a real
discovery server over two equal edges spreads the users over both, and a plain URL is left
as it is."""

from __future__ import annotations

from bench.discovered import discovery_url, edge_url
from discovery import DiscoveryConfig, start_discovery
from discovery.model import NodeInfo, NodeKind
from discovery.static import StaticRegistry

EDGES = {"edge-1": "ws://127.0.0.1:1/", "edge-2": "ws://127.0.0.1:2/"}


async def test_discovery_spreads_bench_users_over_the_edges() -> None:
    registry = StaticRegistry(NodeInfo(n, NodeKind.EDGE, f"127.0.0.1:{i}", url) for i, (n, url) in
                              enumerate(EDGES.items(), start=1))  # fmt: skip
    service = await start_discovery(DiscoveryConfig(port=0, http_port=-1), registry)
    try:
        url = discovery_url(service.target)
        assigned = [await edge_url(url, f"user-{i}") for i in range(40)]
    finally:
        await service.stop()
    assert set(assigned) == set(EDGES.values())
    assert all(assigned.count(u) >= 10 for u in EDGES.values())  # spread, not all on one
    assert await edge_url("ws://127.0.0.1:3/", "anyone") == "ws://127.0.0.1:3/"
