"""Wiring of the messaging service: store, id generator, password hasher, the domain
services and both gRPC servicers on one grpc.aio server."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from grpc import aio

from kernel.clock import Clock, SystemClock
from kernel.grpc_server import GrpcService, start_grpc_server
from kernel.ids import SnowflakeGenerator
from kernel.push_targets import PushTargetStore
from messaging.accounts import Accounts
from messaging.auth_throttle import AuthThrottle
from messaging.config import MessagingConfig
from messaging.conversations import Conversations
from messaging.erased_media import BlobRemover
from messaging.grpc_servicer import AccountsServicer, MessagingServicer
from messaging.local_api import LocalAccounts, LocalMessaging
from messaging.membership import MemberCache
from messaging.messages import Messages
from messaging.passwords import PasswordHasher
from messaging.push_targets import PushTargets
from messaging.store.interface import MessageStore
from protos import messaging_pb2_grpc

log = logging.getLogger(__name__)


@dataclass
class MessagingService:
    """A running messaging service: its gRPC server, and the same two services in-process
    (`accounts`, `messaging`: what a router placed in this process calls instead of gRPC)."""

    grpc: GrpcService
    accounts: LocalAccounts
    messaging: LocalMessaging

    @property
    def target(self) -> str:
        return self.grpc.target

    async def stop(self, grace: float = 1.0) -> None:
        await self.grpc.stop(grace)


def open_store(config: MessagingConfig) -> MessageStore:
    """The configured backend, not yet opened. SQLite and the Cassandra driver are imported
    lazily: the memory store needs neither. With `log_backend = "cassandra"` the log and the
    cursors are in Cassandra and the directory in `store`."""
    directory = _open_directory_store(config)
    if config.log_backend == "cassandra":
        from messaging.store.cassandra import CassandraStore

        return CassandraStore(config.cassandra(), directory, partitions=config.partitions)
    return directory


def _open_directory_store(config: MessagingConfig) -> MessageStore:
    if config.store == "memory":
        from messaging.store.memory import MemoryStore

        return MemoryStore(partitions=config.partitions)
    from messaging.store.sqlite import SqliteStore

    config.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteStore(config.data_dir / "messages.db", partitions=config.partitions)


async def start_messaging(
    config: MessagingConfig,
    *,
    clock: Clock | None = None,
    store: MessageStore | None = None,
    blobs: BlobRemover | None = None,
) -> MessagingService:
    """Serve Accounts and Messaging. The store (given or built from config) is opened here
    and closed when the service stops: the service owns it from now on. `blobs`: where the
    objects of deleted messages' attachments are removed (None: they are left)."""
    clock = clock or SystemClock()
    store = store if store is not None else open_store(config)
    await store.open()
    try:
        ids = SnowflakeGenerator(config.snowflake_worker, clock)
        hasher = PasswordHasher(
            time_cost=config.password_hash_time_cost,
            memory_cost_kib=config.password_hash_memory_cost,
            parallelism=config.password_hash_parallelism,
            concurrency=config.password_hash_concurrency,
            waiting=config.password_hash_waiting,
        )
        members = MemberCache(
            store, clock, max_size=config.member_cache_size, ttl_s=config.member_cache_ttl_s
        )
        accounts = Accounts(
            store,
            hasher,
            clock,
            token_secret=config.token_secret,
            token_ttl_ms=config.token_ttl_ms,
            throttle=AuthThrottle(config.auth_limits()),
        )
        conversations = Conversations(store, ids, clock, members)
        messages = Messages(store, store, ids, clock, members, partitions=config.partitions, blobs=blobs)
        # A backend without push targets (yet) still serves everything else.
        push_targets = PushTargets(store, clock) if isinstance(store, PushTargetStore) else None
        accounts_servicer = AccountsServicer(accounts, push_targets)
        messaging_servicer = MessagingServicer(conversations, messages)

        def register(server: aio.Server) -> None:
            messaging_pb2_grpc.add_AccountsServicer_to_server(accounts_servicer, server)
            messaging_pb2_grpc.add_MessagingServicer_to_server(messaging_servicer, server)

        service = await start_grpc_server(
            "messaging",
            register,
            config.host,
            config.port,
            internal_secret=config.internal_secret,
            internal_tls_dir=config.internal_tls_dir,
        )
    except BaseException:
        await store.close()
        raise
    service.on_stop.append(store.close)
    service.on_stop.append(hasher.close)
    log.info("messaging: serving on %s (store %s, log %s)", service.target, config.store, config.log_backend)
    return MessagingService(service, LocalAccounts(accounts_servicer), LocalMessaging(messaging_servicer))
