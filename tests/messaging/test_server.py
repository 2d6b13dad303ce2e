"""start_messaging: serves on a free port, owns the store it was given (opens and closes it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kernel.errors import InvalidArgument
from kernel.grpc_server import insecure_channel
from messaging import start_messaging
from messaging.store.memory import MemoryStore
from protos import messaging_pb2, messaging_pb2_grpc
from tests.messaging.conftest import cheap_config


class TrackedStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    async def open(self) -> None:
        self.events.append("open")

    async def close(self) -> None:
        self.events.append("close")


async def test_store_is_opened_before_serving_and_closed_on_stop(tmp_path: Path) -> None:
    store = TrackedStore()
    service = await start_messaging(cheap_config(tmp_path, store="memory"), store=store)
    assert store.events == ["open"]
    assert service.grpc.port > 0
    channel = insecure_channel(service.target)
    try:
        stub = messaging_pb2_grpc.AccountsStub(channel)
        reply = await stub.SignUp(messaging_pb2.SignUpRequest(user_id="alice", password="password123"))
        assert reply.user_id == "alice"
    finally:
        await channel.close()
        await service.stop(grace=5.0)
    assert store.events == ["open", "close"]


async def test_sqlite_store_keeps_data_across_restarts(tmp_path: Path) -> None:
    for attempt in range(2):
        service = await start_messaging(cheap_config(tmp_path / "data"))
        channel = insecure_channel(service.target)
        try:
            stub = messaging_pb2_grpc.AccountsStub(channel)
            if attempt == 0:
                await stub.SignUp(messaging_pb2.SignUpRequest(user_id="alice", password="password123"))
            else:
                reply = await stub.LogIn(messaging_pb2.LogInRequest(user_id="alice", password="password123"))
                assert reply.token
        finally:
            await channel.close()
            await service.stop(grace=5.0)
    assert (tmp_path / "data" / "messages.db").exists()


async def test_a_node_started_with_another_partition_count_refuses_to_start(tmp_path: Path) -> None:
    config = dataclasses.replace(cheap_config(tmp_path), partitions=64)
    service = await start_messaging(config)
    await service.stop(grace=5.0)
    with pytest.raises(InvalidArgument, match="partitions") as refused:
        await start_messaging(dataclasses.replace(config, partitions=128))
    assert "created with partitions=64" in str(refused.value)
