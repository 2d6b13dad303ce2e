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
    from protos.router_pb2 import MovePartitionRequest, PartitionOwner
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
    from dataclasses import replace

    from discovery.memory_ownership import MemoryOwnership
    from router import LogPushNotifier, RouterService, start_router
    from router.handoff import LocalRouters

    base = router_config(config, upstream)
    stop_push = None
    if push is None:
        from deploy.push import durable_push

        durable = await durable_push(config.data_dir, base)
        if durable is not None:
            push, stop_push = durable
        else:
            push = LogPushNotifier(config.data_dir / "push.jsonl" if config.push_log else None)
    # In-process ownership: each router opens a session and joins, and the partitions are
    # rebalanced onto it by planned handoffs (kernel.ownership.rebalance).
    ownership = MemoryOwnership(config.partitions)
    routers = LocalRouters(ownership)
    services: list[RouterService] = []

    async def stop() -> None:
        for service in reversed(services):
            await service.stop()
        if stop_push is not None:
            await stop_push()

    try:
        for index in range(config.routers):
            router = replace(base, router_id=f"router-{index + 1}")
            services.append(
                await start_router(router, clock=clock, push=push, ownership=ownership, routers=routers)
            )
    except BaseException:
        await stop()
        raise
    targets = [service.target for service in services]
    addresses = {"router_target": targets[0], "router_targets": ",".join(targets)}
    return StartedService("router", addresses, stop, push)


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
        partition_map=lambda: edge.links.map,
    )
    move = partition_mover(upstream["router_target"], config.internal_secret, config.internal_tls_dir)
    try:
        discovery = await start_discovery(discovery_config(config), registry=registry, move_partition=move)
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


def partition_mover(
    router_target: str, internal_secret: str, internal_tls_dir: str
) -> Callable[[MovePartitionRequest], Awaitable[PartitionOwner]]:
    """Discovery's MovePartition, forwarded to the router process (it holds the ownership)."""
    from kernel.grpc_boundary import call
    from kernel.grpc_server import internal_channel
    from protos import router_pb2_grpc

    async def move(request: MovePartitionRequest) -> PartitionOwner:
        channel = internal_channel(router_target, internal_secret, internal_tls_dir)
        try:
            return await call(router_pb2_grpc.RouterStub(channel).MovePartition(request, timeout=60))
        finally:
            await channel.close()

    return move
