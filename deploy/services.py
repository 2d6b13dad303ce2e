"""Each service of a node as a unit the launcher can start: in this process or in a child.

A unit takes the targets of the services it depends on and returns the addresses it serves,
so the same wiring runs one process or several.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deploy.config import NodeConfig
from deploy.room_configs import (
    discovery_config,
    edge_config,
    messaging_config,
    presence_config,
    router_config,
)
from kernel.clock import Clock

if TYPE_CHECKING:  # the router is imported only by the process that runs it
    from router import PushNotifier

Stop = Callable[[], Awaitable[None]]
Addresses = dict[str, str]

# Start order: each service needs the addresses of those before it.
SERVICE_ORDER = ("messaging", "presence", "router", "edge")


@dataclass
class StartedService:
    name: str
    addresses: Addresses
    stop: Stop
    push: PushNotifier | None = None


async def start_service(
    name: str,
    config: NodeConfig,
    secret: str,
    upstream: Addresses,
    clock: Clock,
    push: PushNotifier | None,
) -> StartedService:
    """Start one service (the edge brings discovery along: it reads the edge's load)."""
    if name == "messaging":
        return await _messaging(config, secret, clock)
    if name == "presence":
        return await _presence(config, clock)
    if name == "router":
        return await _router(config, upstream, clock, push)
    if name == "edge":
        return await _edge(config, secret, upstream, clock)
    raise ValueError(f"unknown service {name!r}")


async def _messaging(config: NodeConfig, secret: str, clock: Clock) -> StartedService:
    from messaging import start_messaging

    service = await start_messaging(messaging_config(config, secret), clock=clock)
    return StartedService("messaging", {"messaging_target": service.target}, service.stop)


async def _presence(config: NodeConfig, clock: Clock) -> StartedService:
    from presence import start_presence

    service = await start_presence(presence_config(config), clock=clock)
    return StartedService("presence", {"presence_target": service.target}, service.stop)


async def _router(
    config: NodeConfig, upstream: Addresses, clock: Clock, push: PushNotifier | None
) -> StartedService:
    from router import LogPushNotifier, start_router

    if push is None:
        push = LogPushNotifier(config.data_dir / "push.jsonl" if config.push_log else None)
    service = await start_router(router_config(config, upstream), clock=clock, push=push)
    return StartedService("router", {"router_target": service.target}, service.stop, push)


async def _edge(config: NodeConfig, secret: str, upstream: Addresses, clock: Clock) -> StartedService:
    from discovery import StaticRegistry, start_discovery
    from edge import start_edge

    edge = await start_edge(edge_config(config, secret, upstream), clock=clock)
    registry = StaticRegistry.single_node(
        edge_id="edge-1",
        ws_url=edge.ws_url,
        grpc_target=edge.grpc_target,
        connections=lambda: edge.connections,
        router_target=upstream["router_target"],
        messaging_target=upstream["messaging_target"],
        presence_target=upstream["presence_target"],
        now_ms=clock.now_ms(),
    )
    try:
        discovery = await start_discovery(discovery_config(config), registry=registry)
    except BaseException:
        await edge.stop()
        raise

    async def stop() -> None:
        await discovery.stop()
        await edge.stop()

    addresses = {
        "ws_url": edge.ws_url,
        "gateway_target": edge.grpc_target,
        "discovery_target": discovery.target,
    }
    return StartedService("edge", addresses, stop)
