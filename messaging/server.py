"""Wiring of the messaging service: store, id generator, password hasher, the domain
services and both gRPC servicers on one grpc.aio server."""

from __future__ import annotations

import logging

from grpc import aio

from kernel.clock import Clock, SystemClock
from kernel.grpc_server import GrpcService, start_grpc_server
from kernel.ids import SnowflakeGenerator
from kernel.push_targets import PushTargetStore
from messaging.accounts import Accounts
from messaging.auth_throttle import AuthThrottle
from messaging.config import MessagingConfig
from messaging.conversations import Conversations
from messaging.grpc_servicer import AccountsServicer, MessagingServicer
from messaging.membership import MemberCache
from messaging.messages import Messages
from messaging.passwords import PasswordHasher
from messaging.push_targets import PushTargets
from messaging.store.interface import MessageStore
from protos import messaging_pb2_grpc

log = logging.getLogger(__name__)


def open_store(config: MessagingConfig) -> MessageStore:
    """The configured backend, not yet opened. SQLite is imported lazily: the memory store
    needs none of it."""
    if config.store == "memory":
        from messaging.store.memory import MemoryStore

        return MemoryStore(partitions=config.partitions)
    from messaging.store.sqlite import SqliteStore

    config.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteStore(config.data_dir / "messages.db", partitions=config.partitions)


async def start_messaging(
    config: MessagingConfig, *, clock: Clock | None = None, store: MessageStore | None = None
) -> GrpcService:
    """Serve Accounts and Messaging. The store (given or built from config) is opened here
    and closed when the service stops: the service owns it from now on."""
    clock = clock or SystemClock()
    store = store if store is not None else open_store(config)
    await store.open()
    try:
        ids = SnowflakeGenerator(config.worker_id, clock)
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
        messages = Messages(store, store, ids, clock, members, partitions=config.partitions)
        # A backend without push targets (yet) still serves everything else.
        push_targets = PushTargets(store, clock) if isinstance(store, PushTargetStore) else None

        def register(server: aio.Server) -> None:
            messaging_pb2_grpc.add_AccountsServicer_to_server(
                AccountsServicer(accounts, push_targets), server
            )
            messaging_pb2_grpc.add_MessagingServicer_to_server(
                MessagingServicer(conversations, messages), server
            )

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
    log.info("messaging: serving on %s (store %s)", service.target, config.store)
    return service
