"""Each service of a node as a unit the launcher can start: in this process or in a child.

A unit takes the targets of the services it depends on and returns the addresses it serves,
so the same wiring runs one process or several.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from deploy.config import NodeConfig
from kernel.clock import Clock
from kernel.config import from_env

Stop = Callable[[], Awaitable[None]]
Addresses = dict[str, str]

# Start order: each service needs the addresses of those before it.
SERVICE_ORDER = ("messaging", "presence", "router", "edge")


@dataclass
class StartedService:
    name: str
    addresses: Addresses
    stop: Stop
    push: object | None = None


async def start_service(
    name: str, config: NodeConfig, secret: str, upstream: Addresses, clock: Clock, push: object | None
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
    from messaging import MessagingConfig, start_messaging
    from messaging.config import LIMIT_FIELDS

    # The options a NodeConfig does not carry (log-in and sign-up limits, the hash pool) are
    # still overridable by HUBBUB_<FIELD>.
    service = await start_messaging(
        from_env(
            MessagingConfig,
            env=limit_env(LIMIT_FIELDS),
            data_dir=config.data_dir,
            store=config.store,
            worker_id=config.worker_id,
            token_secret=secret,
            password_hash_time_cost=config.password_hash_time_cost,
            password_hash_memory_cost=config.password_hash_memory_kib,
            password_hash_parallelism=config.password_hash_parallelism,
        ),
        clock=clock,
    )
    return StartedService("messaging", {"messaging_target": service.target}, service.stop)


async def _presence(config: NodeConfig, clock: Clock) -> StartedService:
    from presence import PresenceConfig, start_presence

    service = await start_presence(PresenceConfig(debounce_ms=config.presence_debounce_ms), clock=clock)
    return StartedService("presence", {"presence_target": service.target}, service.stop)


async def _router(config: NodeConfig, upstream: Addresses, clock: Clock, push: Any) -> StartedService:
    from router import LogPushNotifier, RouterConfig, start_router

    if push is None:
        push = LogPushNotifier(config.data_dir / "push.jsonl" if config.push_log else None)
    service = await start_router(
        RouterConfig(
            messaging_target=upstream["messaging_target"],
            presence_target=upstream["presence_target"],
            append_interval_ms=config.append_interval_ms,
        ),
        clock=clock,
        push=push,
    )
    return StartedService("router", {"router_target": service.target}, service.stop, push)


async def _edge(config: NodeConfig, secret: str, upstream: Addresses, clock: Clock) -> StartedService:
    from discovery import DiscoveryConfig, StaticRegistry, start_discovery
    from edge import EdgeConfig, start_edge
    from edge.config import LIMIT_FIELDS

    # The inbound rate limits and auth slots are overridable by HUBBUB_<FIELD>.
    edge = await start_edge(
        from_env(
            EdgeConfig,
            env=limit_env(LIMIT_FIELDS),
            host=config.host,
            ws_port=config.ws_port,
            grpc_port=config.gateway_port,
            router_targets=(upstream["router_target"],),
            messaging_target=upstream["messaging_target"],
            presence_target=upstream["presence_target"],
            token_secret=secret,
            heartbeat_interval_ms=config.heartbeat_interval_ms,
            heartbeat_timeout_ms=config.heartbeat_timeout_ms,
            send_queue_limit=config.send_queue_limit,
            ws_compression=config.ws_compression,
            presence_lease_ms=config.presence_lease_ms,
            router_flush_interval_ms=config.link_flush_interval_ms,
        ),
        clock=clock,
    )
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
        discovery = await start_discovery(
            DiscoveryConfig(host=config.host, port=config.discovery_port), registry=registry
        )
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


def limit_env(fields: tuple[str, ...]) -> dict[str, str]:
    """The HUBBUB_<FIELD> variables of these (limit) fields only: the rest of a service's
    config comes from the NodeConfig."""
    keys = {f"HUBBUB_{name.upper()}" for name in fields}
    return {key: value for key, value in os.environ.items() if key in keys}
