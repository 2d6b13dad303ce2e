"""Each service of a node as a unit the launcher can start: in this process or in a child.

A unit takes the targets of the services it depends on and returns the addresses it serves,
so the same wiring runs one process or several. Services started in one process also leave
their in-process faces in `InProcess`: a later one there calls them without gRPC (the router
calls messaging so: its Appends reach the message log in its own process), and an edge
reaches a router started before it in its process through kernel/link_streams.py's registry;
gRPC stays between processes.
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
    redis_settings,
    router_config,
    router_log_config,
)
from kernel import link_streams
from kernel.clock import Clock

if TYPE_CHECKING:  # the router is imported only by the process that runs it
    from kernel.messaging_api import AccountsApi, MessagingApi
    from media import BlobServer, LocalBlobStore
    from media.config import MediaConfig
    from media.s3_store import S3BlobStore
    from protos.router_pb2 import MovePartitionRequest, PartitionOwner
    from router import PushNotifier

Stop = Callable[[], Awaitable[None]]
Addresses = dict[str, str]

# Start order: each service needs the addresses of those before it.
SERVICE_ORDER = ("messaging", "presence", "router", "edge")
EDGE_PORT_STEP = 10
"""Edge i of `edges` listens on ws_port + 10 (i - 1) and gateway_port + 10 (i - 1): clear of the
node's other default ports (8765-8768)."""


@dataclass
class StartedService:
    name: str
    addresses: Addresses
    stop: Stop
    push: PushNotifier | None = None


@dataclass
class InProcess:
    """The services started in this process, as their typed interfaces (filled as they start)."""

    messaging: tuple[AccountsApi, MessagingApi] | None = None


async def start_service(
    name: str,
    config: NodeConfig,
    secret: str,
    upstream: Addresses,
    clock: Clock,
    push: PushNotifier | None,
    here: InProcess | None = None,
) -> StartedService:
    """Start one service (the edge brings discovery along: it reads the edge's load). `here`:
    what this process already runs; the service is added to it."""
    here = here if here is not None else InProcess()
    if name == "messaging":
        return await _messaging(config, secret, clock, here)
    if name == "presence":
        return await _presence(config, clock)
    if name == "router":
        return await _router(config, upstream, clock, push, here)
    if name == "edge":
        return await _edge(config, secret, upstream, clock)
    raise ValueError(f"unknown service {name!r}")


async def _messaging(config: NodeConfig, secret: str, clock: Clock, here: InProcess) -> StartedService:
    from deploy.media_store import edge_blob_store
    from messaging import start_messaging

    # Deleted messages' attachments are removed from the store the edges sign for: the blob
    # server's folder, or the S3 bucket (HUBBUB_MEDIA_BACKEND=s3).
    blobs = edge_blob_store(media_options(config), clock) or local_blob_store(config, secret)
    service = await start_messaging(messaging_config(config, secret), clock=clock, blobs=blobs)
    here.messaging = (service.accounts, service.messaging)
    return StartedService("messaging", {"messaging_target": service.target}, service.stop)


async def _presence(config: NodeConfig, clock: Clock) -> StartedService:
    from deploy.backends import presence_backend
    from presence import start_presence

    chosen = presence_config(config)
    backend = presence_backend(chosen, redis_settings(config), clock)
    service = await start_presence(chosen, clock=clock, backend=backend)
    if backend is not None:  # a given backend stays ours to close, after the service
        service.on_stop.insert(0, backend.close)
    return StartedService("presence", {"presence_target": service.target}, service.stop)


async def _router(
    config: NodeConfig, upstream: Addresses, clock: Clock, push: PushNotifier | None, here: InProcess
) -> StartedService:
    from dataclasses import replace

    from deploy.backends import session_directory
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
    unregister: list[Callable[[], None]] = []
    directory = session_directory(config.directory_backend, redis_settings(config), clock)
    own_log = None
    if here.messaging is None:  # messaging elsewhere: with the log in Cassandra, write it here
        from deploy.router_log import open_router_log

        own_log = await open_router_log(
            router_log_config(config), upstream["messaging_target"], clock,
            internal_secret=config.internal_secret, internal_tls_dir=config.internal_tls_dir,
        )  # fmt: skip

    async def stop() -> None:
        for take_back in unregister:
            take_back()
        for service in reversed(services):
            await service.stop()
        if own_log is not None:
            await own_log.close()
        if stop_push is not None:
            await stop_push()
        if directory is not None:
            await directory.close()

    try:
        for index in range(config.routers):
            router = replace(base, router_id=f"router-{index + 1}")
            services.append(
                await start_router(
                    router,
                    clock=clock,
                    push=push,
                    ownership=ownership,
                    routers=routers,
                    local_messaging=here.messaging,
                    directory=directory,
                    log_writer=own_log.writer if own_log is not None else None,
                )
            )
            # An edge in this process reaches it without gRPC (kernel/link_streams.py).
            unregister.append(link_streams.register(services[-1].target, services[-1].pump.local))
    except BaseException:
        await stop()
        raise
    targets = [service.target for service in services]
    addresses = {"router_target": targets[0], "router_targets": ",".join(targets)}
    return StartedService("router", addresses, stop, push)


async def _edge(config: NodeConfig, secret: str, upstream: Addresses, clock: Clock) -> StartedService:
    """`config.edges` edges and discovery over one static registry that lists them all."""
    from dataclasses import replace

    from deploy.backends import session_directory
    from deploy.edge_registry import RegistryDrainWatch, RegistryLoadSink
    from discovery import NodeInfo, NodeKind, StaticRegistry, start_discovery
    from edge import EdgeService, start_edge
    from kernel.cluster_events import MemoryEventBus

    now = clock.now_ms()
    edges: list[EdgeService] = []
    # The blob server (attachments) runs beside the edges, which sign its URLs with one key.
    media = await start_media(config, secret, clock, upstream["messaging_target"])
    registry = StaticRegistry(
        [
            NodeInfo("router-1", NodeKind.ROUTER, upstream["router_target"], registered_at_ms=now),
            NodeInfo("messaging-1", NodeKind.MESSAGING, upstream["messaging_target"], registered_at_ms=now),
            NodeInfo("presence-1", NodeKind.PRESENCE, upstream["presence_target"], registered_at_ms=now),
        ],
        partition_map=lambda: edges[0].links.map,
    )

    directory = session_directory(config.directory_backend, redis_settings(config), clock)
    events = MemoryEventBus()  # log out everywhere reaches the user's sessions on every edge here

    async def stop() -> None:
        for service in reversed(edges):
            await service.stop()
        await registry.close()
        await media.stop()
        await events.close()
        if directory is not None:
            await directory.close()

    base = edge_config(config, secret, {**upstream, "media_url": media.url})
    try:
        for index in range(config.edges):
            edge_id = f"edge-{index + 1}"
            edge_conf = replace(
                base,
                edge_id=edge_id,
                ws_port=base.ws_port + EDGE_PORT_STEP * index if base.ws_port else 0,
                grpc_port=base.grpc_port + EDGE_PORT_STEP * index if base.grpc_port else 0,
            )
            edge = await start_edge(
                edge_conf,
                clock=clock,
                drain_watch=RegistryDrainWatch(registry, edge_id),
                load_sink=RegistryLoadSink(registry, edge_id),
                session_registry=directory,
                blob_store=media.s3,
                events=events,
            )
            edges.append(edge)
            await registry.register(
                NodeInfo(edge_id, NodeKind.EDGE, edge.grpc_target, edge.ws_url, registered_at_ms=now)
            )
        move = partition_mover(upstream["router_target"], config.internal_secret, config.internal_tls_dir)
        from discovery.interface import PartitionListing

        async def list_partitions() -> PartitionListing:
            return PartitionListing(edges[0].links.map)  # the map the edge routes by

        discovery = await start_discovery(
            discovery_config(config), registry=registry, move_partition=move, list_partitions=list_partitions
        )
    except BaseException:
        await stop()
        raise

    async def stop_all() -> None:
        await discovery.stop()
        await stop()

    addresses = {
        "ws_url": edges[0].ws_url,
        "ws_urls": ",".join(e.ws_url for e in edges),
        "gateway_target": edges[0].grpc_target,
        "gateway_targets": ",".join(e.grpc_target for e in edges),
        "discovery_target": discovery.target,
        "discovery_http": discovery.http_url,
    }
    return StartedService("edge", addresses, stop_all)


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


@dataclass
class StartedMedia:
    """The node's attachments: the embedded blob server, or an S3 bucket the edges sign for."""

    url: str
    """What the edges' media_url is: the blob server's base, or (S3) the origin the web
    client's policy names."""
    s3: S3BlobStore | None
    stop: Stop


async def start_media(config: NodeConfig, secret: str, clock: Clock, messaging_target: str) -> StartedMedia:
    """The blob server (or, with HUBBUB_MEDIA_BACKEND=s3, the bucket) and the sweep of uploads
    never sent beside it (HUBBUB_MEDIA_* options, docs/media.md)."""
    from deploy.media_store import edge_blob_store
    from deploy.media_sweep import start_media_sweep

    options = media_options(config)
    s3 = edge_blob_store(options, clock)
    internal = (config.internal_secret, config.internal_tls_dir)
    if s3 is not None:
        stop_sweep = start_media_sweep(s3, options, clock, messaging_target, *internal)
        return StartedMedia(config.media_public_url or options.s3_endpoint, s3, stop_sweep)
    blobs = await start_blobs(config, secret, clock)
    stop_sweep = start_media_sweep(blobs.store, options, clock, messaging_target, *internal)

    async def stop() -> None:
        await stop_sweep()
        await blobs.stop()

    return StartedMedia(config.media_public_url or f"http://{config.host}:{blobs.port}", None, stop)


def media_options(config: NodeConfig) -> MediaConfig:
    """The media room's options (HUBBUB_MEDIA_*), its local files under the node's data dir."""
    from kernel.config import from_env
    from media.config import ENV_PREFIX, MediaConfig

    return from_env(MediaConfig, prefix=ENV_PREFIX, data_dir=config.data_dir / "media")


def local_blob_store(config: NodeConfig, secret: str) -> LocalBlobStore:
    """The embedded blob store: files under data_dir/media, whichever process opens it."""
    from kernel.media_urls import SignedUrls
    from media import LocalBlobStore

    # The edge signs the URLs clients get (it knows the public base); this store's signer is
    # for callers in this process, e.g. a retention sweep that hands out nothing.
    return LocalBlobStore(config.data_dir / "media", SignedUrls(config.media_public_url, secret))


async def start_blobs(config: NodeConfig, secret: str, clock: Clock) -> BlobServer:
    """The embedded blob store (files under data_dir/media) behind its HTTP server."""
    from media import start_blob_server

    store = local_blob_store(config, secret)
    return await start_blob_server(store, secret, config.host, config.media_port, clock)
