"""Fixtures for the messaging room: cheap password hashing, services over a memory store,
and a real messaging server (SQLite on tmp_path) with clients of both placements: gRPC stubs,
and the in-process adapters a router in the same process uses (messaging/local_api.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kernel.clock import ManualClock
from kernel.grpc_server import insecure_channel
from kernel.ids import SnowflakeGenerator
from kernel.messaging_api import AccountsApi, MessagingApi
from messaging import MessagingConfig, MessagingService, start_messaging
from messaging.accounts import Accounts
from messaging.conversations import Conversations
from messaging.membership import MemberCache
from messaging.messages import Messages
from messaging.passwords import PasswordHasher
from messaging.store.memory import MemoryStore
from protos import messaging_pb2_grpc

SECRET = "test-secret"


def cheap_config(data_dir: Path, store: str = "sqlite") -> MessagingConfig:
    """Tiny argon2 costs: tests sign up hundreds of users, some all at once (room to queue)."""
    return MessagingConfig(
        store=store,
        data_dir=data_dir,
        token_secret=SECRET,
        password_hash_time_cost=1,
        password_hash_memory_cost=8,
        password_hash_parallelism=1,
        password_hash_waiting=10_000,
    )


def cheap_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1, waiting=10_000)


@dataclass
class Services:
    store: MemoryStore
    clock: ManualClock
    accounts: Accounts
    conversations: Conversations
    messages: Messages
    members: MemberCache

    async def users(self, *user_ids: str) -> None:
        for user_id in user_ids:
            await self.accounts.sign_up(user_id, "password123", "")


def build_services(store: MemoryStore, clock: ManualClock | None = None) -> Services:
    clock = clock or ManualClock()
    ids = SnowflakeGenerator(1, clock)
    members = MemberCache(store, clock, max_size=1000, ttl_s=5.0)
    accounts = Accounts(store, cheap_hasher(), clock, token_secret=SECRET, token_ttl_ms=60_000)
    return Services(
        store,
        clock,
        accounts,
        Conversations(store, ids, clock, members),
        Messages(store, store, ids, clock, members),
        members,
    )


@pytest.fixture
async def services() -> Services:
    return build_services(MemoryStore())


@dataclass
class Client:
    service: MessagingService
    accounts: AccountsApi
    messaging: MessagingApi
    over_grpc: bool  # False: the in-process adapters, no gRPC


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[MessagingService]:
    service = await start_messaging(cheap_config(tmp_path / "data"))
    try:
        yield service
    finally:
        await service.stop(grace=5.0)


@pytest.fixture(params=["grpc", "in-process"])
async def client(request: pytest.FixtureRequest, server: MessagingService) -> AsyncIterator[Client]:
    """The same contract, kept by the gRPC stubs and by the in-process adapters."""
    if request.param == "in-process":
        yield Client(server, server.accounts, server.messaging, over_grpc=False)
        return
    channel = insecure_channel(server.target)
    try:
        yield Client(
            server,
            messaging_pb2_grpc.AccountsStub(channel),
            messaging_pb2_grpc.MessagingStub(channel),
            over_grpc=True,
        )
    finally:
        await channel.close()
