"""Start a router: build its dependencies from a RouterConfig, serve the Router service, and
stop it cleanly. The single entry point deploy/ (and tests) use."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from grpc import aio

from kernel.clock import Clock, SystemClock
from kernel.errors import InvalidArgument
from kernel.grpc_boundary import call
from kernel.grpc_server import GrpcService, internal_channel, start_grpc_server
from kernel.messaging_api import AccountsApi, MessagingApi
from kernel.ownership import PartitionOwnership
from protos import messaging_pb2, messaging_pb2_grpc, presence_pb2_grpc, router_pb2_grpc
from router import metrics
from router.config import RouterConfig
from router.context import RouterContext
from router.core import RouterCore
from router.directory import MemoryDirectory, SessionDirectory
from router.handoff import LocalRouters
from router.link_pump import LinkPump
from router.links import LinkTable
from router.members import AudienceCache, Members
from router.owner_append import LogWriter
from router.ownership import RouterPartitions
from router.push import LogPushNotifier, PushNotifier, PushQueue
from router.recent import RecentSenders
from router.servicer import RouterServicer

log = logging.getLogger(__name__)


@dataclass
class RouterService:
    """A running router. `push` is the notifier in use; `core` is exposed for tests and metrics.
    `pump` takes Links from edges in this process too (`pump.local`, kernel/link_streams.py)."""

    grpc: GrpcService
    core: RouterCore
    push: PushNotifier
    channels: tuple[aio.Channel, ...]
    pump: LinkPump

    @property
    def target(self) -> str:
        return self.grpc.target

    @property
    def directory(self) -> SessionDirectory:
        return self.core.ctx.directory

    async def stop(self, grace: float = 1.0) -> None:
        # End the Link streams first so the server need not wait `grace` for them; local ones
        # end the same way, and no new one starts.
        self.pump.close()
        self.core.ctx.links.close_all()
        await self.grpc.stop(grace)
        await self.core.stop()
        for channel in self.channels:
            await channel.close()


async def start_router(
    config: RouterConfig,
    *,
    clock: Clock | None = None,
    push: PushNotifier | None = None,
    directory: SessionDirectory | None = None,
    ownership: PartitionOwnership | None = None,
    routers: LocalRouters | None = None,
    local_messaging: tuple[AccountsApi, MessagingApi] | None = None,
    log_writer: LogWriter | None = None,
) -> RouterService:
    """`ownership` given: the router opens a session once it listens and serves what it is
    given (`routers.join` rebalances onto it); none = it owns every partition, unfenced.
    `local_messaging`: messaging runs in this process, called without gRPC (the Accounts and
    Messaging Protocols of kernel/messaging_api.py); none = over gRPC at messaging_target.
    `log_writer`: this router appends to the log itself (router/owner_append.py), not through
    messaging's Append."""
    clock = clock or SystemClock()
    notifier: PushNotifier = push if push is not None else LogPushNotifier()
    channels: list[aio.Channel] = []
    accounts: AccountsApi
    messaging: MessagingApi
    if local_messaging is not None:
        accounts, messaging = local_messaging
    else:
        messaging_channel = internal_channel(
            config.messaging_target, config.internal_secret, config.internal_tls_dir
        )
        channels.append(messaging_channel)
        accounts = messaging_pb2_grpc.AccountsStub(messaging_channel)
        messaging = messaging_pb2_grpc.MessagingStub(messaging_channel)
    presence_stub = None
    if config.presence_target:
        presence_channel = internal_channel(
            config.presence_target, config.internal_secret, config.internal_tls_dir
        )
        channels.append(presence_channel)
        presence_stub = presence_pb2_grpc.PresenceStub(presence_channel)

    async def fetch_members(conversation_id: int) -> Members:
        reply = await call(
            messaging.GetMembers(messaging_pb2.ConversationRequest(conversation_id=conversation_id))
        )
        return Members(conversation_id, reply.kind, frozenset(reply.user_ids))

    members = AudienceCache(fetch_members, config.member_cache_size)
    recent = RecentSenders(config.sender_ring_size, config.sender_ring_conversations)

    def forget(partitions: set[int]) -> None:
        members.forget_partitions(partitions, config.partitions)
        recent.forget_partitions(partitions, config.partitions)

    if config.directory_backend == "redis" and directory is None:
        raise InvalidArgument("directory_backend=redis needs the shared directory (deploy/backends.py)")

    async def flush() -> None:
        await links.flushed()

    router_partitions = RouterPartitions(
        config.partitions,
        seal=messaging.Seal if ownership and config.seal else None,
        forget=forget,
        seal_retry_s=config.seal_retry_s,
        flush=flush,
    )
    # A fan-out queued for a partition lost meanwhile is dropped when taken for the stream.
    links = LinkTable(config.edge_outbox_limit, owns=router_partitions.still_owns)
    ctx = RouterContext(
        config=config,
        clock=clock,
        messaging=messaging,
        accounts=accounts,
        presence=presence_stub,
        directory=directory if directory is not None else MemoryDirectory(),
        links=links,
        members=members,
        recent=recent,
        ownership=router_partitions,
        log_writer=log_writer,
        push=PushQueue(
            notifier,
            limit=config.push_queue_limit,
            batch=config.push_batch,
            collapse_window_ms=config.push_collapse_ms,
            now_ms=lambda: int(clock.monotonic() * 1000),
        ),
    )
    metrics.track_links(ctx.links)
    core = RouterCore(ctx)
    pump = LinkPump(core, ctx.links)
    servicer = RouterServicer(pump, ownership, routers)
    try:
        service = await start_grpc_server(
            config.router_id,
            lambda server: router_pb2_grpc.add_RouterServicer_to_server(servicer, server),
            host=config.host,
            port=config.port,
            internal_secret=config.internal_secret,
            internal_tls_dir=config.internal_tls_dir,
        )
    except BaseException:
        for channel in channels:
            await channel.close()
        raise
    try:
        if ownership is not None:
            if ownership.partitions != config.partitions:
                raise InvalidArgument(
                    f"router: partitions is {config.partitions}, ownership has {ownership.partitions}"
                )
            ctx.ownership.attach(await ownership.open_session(config.router_id, service.target))
        core.start()
        if routers is not None:
            await routers.join(config.router_id, ctx.ownership)
    except BaseException:
        await service.stop(0)
        await core.stop()
        for channel in channels:
            await channel.close()
        raise
    log.info("router %s listening on %s", config.router_id, service.target)
    return RouterService(grpc=service, core=core, push=notifier, channels=tuple(channels), pump=pump)
