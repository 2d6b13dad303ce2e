"""The single node: every hubbub service in one process, each a gRPC server on loopback,
wired the same way a cluster is (so one code path serves both ways of running)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from deploy.config import NodeConfig, token_secret_for
from kernel.clock import Clock, SystemClock
from kernel.telemetry import setup_tracing

log = logging.getLogger(__name__)


@dataclass
class SingleNode:
    """A running node: where clients connect, and how to stop it."""

    config: NodeConfig
    ws_url: str
    gateway_target: str
    discovery_target: str
    messaging_target: str
    router_target: str
    presence_target: str
    push: object
    _stops: list[Callable[[], Awaitable[None]]] = field(default_factory=list, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    async def stop(self) -> None:
        """Stop front to back: edges first (clients leave), then router, presence, messaging."""
        while self._stops:
            stop = self._stops.pop()
            with contextlib.suppress(Exception):
                await stop()


async def start_single_node(
    config: NodeConfig, *, clock: Clock | None = None, push: object | None = None
) -> SingleNode:
    """Start every service; `push` replaces the log push backend (tests pass a memory one)."""
    # Rooms are imported here, in the composition root only.
    from discovery import DiscoveryConfig, StaticRegistry, start_discovery
    from edge import EdgeConfig, start_edge
    from messaging import MessagingConfig, start_messaging
    from presence import PresenceConfig, start_presence
    from router import LogPushNotifier, RouterConfig, start_router

    config.validate()
    clock = clock or SystemClock()
    setup_tracing("hubbub", config.trace_exporter, config.otlp_endpoint)
    secret = token_secret_for(config)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    stops: list[Callable[[], Awaitable[None]]] = []
    try:
        messaging = await start_messaging(
            MessagingConfig(
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
        stops.append(messaging.stop)
        presence = await start_presence(PresenceConfig(debounce_ms=config.presence_debounce_ms), clock=clock)
        stops.append(presence.stop)
        if push is None:
            push = LogPushNotifier(config.data_dir / "push.jsonl" if config.push_log else None)
        router = await start_router(
            RouterConfig(messaging_target=messaging.target, presence_target=presence.target),
            clock=clock,
            push=push,  # type: ignore[arg-type]
        )
        stops.append(router.stop)
        edge = await start_edge(
            EdgeConfig(
                host=config.host,
                ws_port=config.ws_port,
                grpc_port=config.gateway_port,
                router_targets=(router.target,),
                messaging_target=messaging.target,
                presence_target=presence.target,
                token_secret=secret,
                heartbeat_interval_ms=config.heartbeat_interval_ms,
                heartbeat_timeout_ms=config.heartbeat_timeout_ms,
                send_queue_limit=config.send_queue_limit,
                ws_compression=config.ws_compression,
                presence_lease_ms=config.presence_lease_ms,
            ),
            clock=clock,
        )
        stops.append(edge.stop)
        registry = StaticRegistry.single_node(
            edge_id="edge-1",
            ws_url=edge.ws_url,
            grpc_target=edge.grpc_target,
            connections=lambda: edge.connections,
            router_target=router.target,
            messaging_target=messaging.target,
            presence_target=presence.target,
            now_ms=clock.now_ms(),
        )
        discovery = await start_discovery(
            DiscoveryConfig(host=config.host, port=config.discovery_port), registry=registry
        )
        stops.append(discovery.stop)
    except BaseException:
        for stop in reversed(stops):
            with contextlib.suppress(Exception):
                await stop()
        raise
    return SingleNode(
        config=config,
        ws_url=edge.ws_url,
        gateway_target=edge.grpc_target,
        discovery_target=discovery.target,
        messaging_target=messaging.target,
        router_target=router.target,
        presence_target=presence.target,
        push=push,
        _stops=stops,
    )
