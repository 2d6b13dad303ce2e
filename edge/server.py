"""Wires one edge together: hub, router links, presence reporter, messaging queries, the
WebSocket and gRPC listeners, and the heartbeat ticker. `start_edge` is the room's entry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from websockets.asyncio.server import Server

from edge import metrics
from edge.actions import CloseCode
from edge.config import EdgeConfig
from edge.connection import EdgeContext, PresenceSink
from edge.directory_writer import DirectoryWriter, SessionRegistry
from edge.discovery_link import DiscoveryLink
from edge.drain import Drainer, DrainWatch
from edge.grpc_gateway import gateway_handler
from edge.hub import Hub
from edge.inbound_limits import InboundRates, UserLimits
from edge.load_report import LoadSink, report_load_forever
from edge.media import MediaUrls, origin_of
from edge.messaging_client import MessagingQueries
from edge.partition_watch import RemoteMapWatch
from edge.presence_reporter import PresenceReporter
from edge.revocations import Revocations
from edge.router_link import RouterLinks
from edge.session import SessionSettings
from edge.token_check import TokenGenerations
from edge.websocket_server import close_all, start_websocket_server
from kernel.blob_store import BlobStore
from kernel.clock import Clock, SystemClock
from kernel.cluster_events import EventBus
from kernel.errors import InvalidArgument
from kernel.grpc_server import GrpcService, start_grpc_server
from kernel.media_urls import SignedUrls
from kernel.ownership import MapWatch
from protos.router_pb2 import SessionRef

log = logging.getLogger(__name__)


class _NoPresence:
    """Presence reporting switched off (no presence_target)."""

    def opened(self, ref: SessionRef) -> None:
        pass

    def closed(self, ref: SessionRef) -> None:
        pass


class _SessionSinks:
    """Several PresenceSinks told of every session (presence and the directory writer)."""

    def __init__(self, *sinks: PresenceSink) -> None:
        self._sinks = sinks

    def opened(self, ref: SessionRef) -> None:
        for sink in self._sinks:
            sink.opened(ref)

    def closed(self, ref: SessionRef) -> None:
        for sink in self._sinks:
            sink.closed(ref)


def tick_period_s(config: EdgeConfig) -> float:
    """How often sessions are checked for silence: a tenth of the timeout, 50 ms..1 s."""
    return min(1.0, max(0.05, config.heartbeat_timeout_ms / 10_000))


@dataclass
class EdgeService:
    """A running edge. `stop` closes clients (1001), the listeners, then the links."""

    config: EdgeConfig
    ctx: EdgeContext
    ws_server: Server
    grpc: GrpcService
    links: RouterLinks
    queries: MessagingQueries
    reporter: PresenceReporter | None
    drainer: Drainer
    directory_writer: DirectoryWriter | None = None
    _ticker: asyncio.Task[None] | None = None
    _watcher: asyncio.Task[None] | None = None
    _background: list[asyncio.Task[None]] = field(default_factory=list)
    _discovery: DiscoveryLink | None = None
    _stopped: bool = field(default=False)

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self._ws_port}"

    @property
    def _ws_port(self) -> int:
        sock = next(iter(self.ws_server.sockets))
        return int(sock.getsockname()[1])

    @property
    def grpc_target(self) -> str:
        return self.grpc.target

    @property
    def connections(self) -> int:
        return self.ctx.hub.connections

    @property
    def sessions(self) -> int:
        return self.ctx.hub.sessions

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for task in (self._ticker, self._watcher, *self._background):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.ws_server.close(close_connections=False)
        await close_all(self.ctx, CloseCode.GOING_AWAY, "edge shutting down")
        self.ws_server.close(close_connections=True)
        await self.ws_server.wait_closed()
        await self.grpc.stop(grace=1.0)
        if self.directory_writer is not None:
            await self.directory_writer.stop()
        await self.links.stop()
        if self.reporter is not None:
            await self.reporter.stop()
        await self.queries.close()
        if self._discovery is not None:
            await self._discovery.close()


async def _tick_forever(ctx: EdgeContext, period_s: float) -> None:
    while True:
        await asyncio.sleep(period_s)
        now = ctx.clock.now_ms()
        for member in ctx.hub.members():
            try:
                member.tick(now)
            except Exception:  # one broken connection must not stop heartbeats for all
                log.exception("heartbeat tick failed")


async def _follow_map(source: MapWatch, links: RouterLinks) -> None:
    """Every map the watch delivers, to the links (they re-route as it changes)."""
    async for partition_map in source.watch():
        links.set_map(partition_map)


async def start_edge(
    config: EdgeConfig,
    *,
    clock: Clock | None = None,
    map_watch: MapWatch | None = None,
    drain_watch: DrainWatch | None = None,
    load_sink: LoadSink | None = None,
    session_registry: SessionRegistry | None = None,
    blob_store: BlobStore | None = None,
    events: EventBus | None = None,
) -> EdgeService:
    """Start both listeners and the links; the returned service knows its bound addresses.
    `map_watch`: where the partition map comes from (in-process ownership); else the routers'
    WatchPartitions when `watch_partitions`, else a static map over `router_targets`.
    `drain_watch`: whether this edge is draining (its node in the registry); `load_sink`:
    where its load is reported. Without them, both go to `discovery_target` over gRPC when it is
    set; else the edge never drains and reports nothing. `session_registry`: the shared
    connection registry this edge writes its sessions to (required by directory_backend=redis).
    `blob_store`: an object store that gives no receipts (S3): it signs the media URLs, and
    confirm_upload asks it; without one, the blob server at `media_url` does both.
    `events`: the cluster events bus (log out everywhere reaches the user's sessions on every
    edge on it; the caller closes it)."""
    if config.directory_backend != "memory" and session_registry is None:
        raise InvalidArgument(f"directory_backend={config.directory_backend} needs a session registry")
    clock = clock or SystemClock()
    hub = Hub()
    metrics.track_send_queues(hub)
    links = RouterLinks(
        config.router_targets,
        config.edge_id,
        hub,
        config.router_pending_limit,
        flush_interval_s=config.router_flush_interval_ms / 1000,
        internal_secret=config.internal_secret,
        internal_tls_dir=config.internal_tls_dir,
        partitions=config.partitions,
    )
    reporter = (
        PresenceReporter(
            config.presence_target,
            config.edge_id,
            config.presence_lease_ms,
            hub.live_refs,
            internal_secret=config.internal_secret,
            internal_tls_dir=config.internal_tls_dir,
        )
        if config.presence_target
        else None
    )
    writer = (
        DirectoryWriter(session_registry, config.edge_id, config.directory_lease_ms, hub.live_refs)
        if session_registry is not None and config.directory_backend != "memory"
        else None
    )
    presence: PresenceSink = reporter if reporter is not None else _NoPresence()
    media = (
        MediaUrls(blob_store, config.token_secret, confirm_with=blob_store)
        if blob_store is not None
        else MediaUrls(SignedUrls(config.media_url, config.token_secret), config.token_secret)
        if config.media_url
        else None
    )
    if writer is not None:
        presence = _SessionSinks(presence, writer)
    queries = MessagingQueries(
        config.messaging_target,
        config.internal_secret,
        internal_tls_dir=config.internal_tls_dir,
        auth_in_flight=config.auth_in_flight,
        auth_waiting=config.auth_waiting,
        media=media,
        clock=clock,
    )
    settings = SessionSettings(
        edge_id=config.edge_id,
        token_secret=config.token_secret,
        heartbeat_interval_ms=config.heartbeat_interval_ms,
        heartbeat_timeout_ms=config.heartbeat_timeout_ms,
        media=media,
        webpush_hosts=config.push_webpush_hosts,
    )
    tokens = TokenGenerations(
        queries.token_generations,
        clock,
        ttl_ms=config.token_check_ttl_ms,
        capacity=config.token_check_cache_size,
    )
    revocations = Revocations(events, hub, tokens, config.edge_id) if events is not None else None
    ctx = EdgeContext(
        settings=settings,
        clock=clock,
        hub=hub,
        router=links,
        presence=presence,
        queries=queries,
        send_queue_limit=config.send_queue_limit,
        tokens=tokens,
        send_queue_bytes=config.send_queue_bytes,
        limits=UserLimits(inbound_rates(config)),
        revocations=revocations,
    )
    ws_server = await start_websocket_server(
        ctx,
        config.host,
        config.ws_port,
        max_size=config.max_frame_bytes,
        compression=config.ws_compression,
        media_origin=origin_of(config.media_url),
    )
    try:
        grpc_service = await start_grpc_server(
            f"edge {config.edge_id}",
            lambda server: server.add_generic_rpc_handlers((gateway_handler(ctx),)),
            config.host,
            config.grpc_port,
            max_receive_bytes=config.max_frame_bytes,
        )
    except BaseException:
        ws_server.close()
        await ws_server.wait_closed()
        await queries.close()
        raise
    links.start()
    if map_watch is None and config.watch_partitions:
        map_watch = RemoteMapWatch(config.router_targets, config.internal_secret, config.internal_tls_dir)
    watcher = (
        asyncio.get_running_loop().create_task(_follow_map(map_watch, links))
        if map_watch is not None
        else None
    )
    if reporter is not None:
        reporter.start()
    if writer is not None:
        writer.start()
    link = None
    if drain_watch is None and load_sink is None and config.discovery_target:
        link = DiscoveryLink(
            config.discovery_target, config.edge_id, config.internal_secret, config.internal_tls_dir
        )
        drain_watch = load_sink = link
    drainer = Drainer(hub, config.drain_period_ms, config.drain_close_after_ms)
    loop = asyncio.get_running_loop()
    background = []
    if drain_watch is not None:
        background.append(loop.create_task(drainer.follow(drain_watch)))
    if load_sink is not None:
        reports = report_load_forever(hub, load_sink, config.load_report_interval_ms)
        background.append(loop.create_task(reports))
    if revocations is not None:
        background.append(loop.create_task(revocations.follow()))
    service = EdgeService(
        config, ctx, ws_server, grpc_service, links, queries, reporter, drainer, writer,
        _watcher=watcher, _background=background, _discovery=link,
    )  # fmt: skip
    service._ticker = loop.create_task(_tick_forever(ctx, tick_period_s(config)))
    return service


def inbound_rates(config: EdgeConfig) -> InboundRates:
    """The edge's inbound limits (docs/protocol.md, Limits) from its config."""
    return InboundRates.from_config(config)


__all__ = ["EdgeService", "inbound_rates", "start_edge"]
