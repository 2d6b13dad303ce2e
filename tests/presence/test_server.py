"""The Presence gRPC service on a real server (port 0), driven by a ManualClock:
time moves by `clock.advance` and expiry runs by `backend.expire()`, never by sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from grpc import aio

from kernel.clock import ManualClock
from kernel.errors import InvalidArgument
from kernel.grpc_boundary import ERROR_CODE_KEY, call
from kernel.grpc_server import GrpcService, insecure_channel
from presence import WATCH_READY_KEY, MemoryPresence, PresenceConfig, start_presence
from protos import client_pb2, presence_pb2, presence_pb2_grpc

LEASE = 10_000
DEBOUNCE = 2_000
ONLINE = client_pb2.PRESENCE_STATUS_ONLINE
OFFLINE = client_pb2.PRESENCE_STATUS_OFFLINE

WatchCall = aio.UnaryStreamCall[presence_pb2.WatchRequest, presence_pb2.PresenceSnapshot]


@dataclass
class Env:
    clock: ManualClock
    backend: MemoryPresence
    service: GrpcService
    stub: presence_pb2_grpc.PresenceAsyncStub
    watches: list[WatchCall]

    async def watch(self) -> WatchCall:
        """A Watch that is live: the server has subscribed before this returns."""
        watch: WatchCall = self.stub.Watch(presence_pb2.WatchRequest())
        self.watches.append(watch)
        async with asyncio.timeout(30):
            metadata = await watch.initial_metadata()
        assert metadata is not None and metadata.get(WATCH_READY_KEY) == "1"
        return watch


async def started(config: PresenceConfig) -> AsyncIterator[Env]:
    clock = ManualClock()
    backend = MemoryPresence(clock, debounce_ms=config.debounce_ms)
    service = await start_presence(config, clock=clock, backend=backend)
    channel = insecure_channel(service.target)
    env = Env(clock, backend, service, presence_pb2_grpc.PresenceStub(channel), [])
    try:
        yield env
    finally:
        for watch in env.watches:
            watch.cancel()
        await channel.close()
        await service.stop(0.5)
        await backend.close()


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async for value in started(PresenceConfig(debounce_ms=DEBOUNCE)):
        yield value


def report(edge: str, *users: str, online: bool = True, lease_ms: int = LEASE) -> presence_pb2.EdgeReport:
    return presence_pb2.EdgeReport(
        edge_id=edge,
        lease_ms=lease_ms,
        changes=[
            presence_pb2.SessionChange(user_id=u, device_id="d1", session_id=i, online=online)
            for i, u in enumerate(users, start=1)
        ],
    )


async def next_snapshot(watch: WatchCall) -> list[tuple[str, Any, int]]:
    async with asyncio.timeout(30):
        message = await watch.read()
    assert isinstance(message, presence_pb2.PresenceSnapshot)
    return sorted((u.user_id, u.status, u.last_seen_ms) for u in message.users)


async def test_report_then_query(env: Env) -> None:
    reply = await call(env.stub.Report(report("e1", "alice")))
    assert reply.server_time_ms == env.clock.now_ms()
    env.clock.advance(100)
    snapshot = await call(env.stub.Query(presence_pb2.PresenceQuery(user_ids=["alice", "stranger"])))
    assert [(u.user_id, u.status, u.last_seen_ms) for u in snapshot.users] == [
        ("alice", ONLINE, env.clock.now_ms()),
        ("stranger", OFFLINE, 0),
    ]


async def test_watchers_see_online_then_offline_after_the_lease_lapses(env: Env) -> None:
    first, second = await env.watch(), await env.watch()
    start = env.clock.now_ms()
    await call(env.stub.Report(report("e1", "alice", "bob")))
    online = [("alice", ONLINE, start), ("bob", ONLINE, start)]
    assert await next_snapshot(first) == online
    assert await next_snapshot(second) == online

    env.clock.advance(LEASE)  # e1 goes silent: its lease lapses, the debounce window opens
    await env.backend.expire()
    env.clock.advance(DEBOUNCE)
    await env.backend.expire()
    offline = [("alice", OFFLINE, start + LEASE), ("bob", OFFLINE, start + LEASE)]
    assert await next_snapshot(first) == offline
    assert await next_snapshot(second) == offline


async def test_a_reconnect_inside_the_debounce_window_reaches_no_watcher(env: Env) -> None:
    watch = await env.watch()
    await call(env.stub.Report(report("e1", "alice")))
    assert [s for _, s, _ in await next_snapshot(watch)] == [ONLINE]
    await call(env.stub.Report(report("e1", "alice", online=False)))
    env.clock.advance(DEBOUNCE - 1)
    await call(env.stub.Report(report("e2", "alice")))  # back on another edge: a flap
    env.clock.advance(DEBOUNCE)
    await env.backend.expire()
    # the next thing the watcher sees is carol, not alice's flap
    await call(env.stub.Report(report("e2", "carol")))
    assert [u for u, _, _ in await next_snapshot(watch)] == ["carol"]


async def test_a_bad_report_is_rejected_with_a_stable_code(env: Env) -> None:
    with pytest.raises(InvalidArgument):
        await call(env.stub.Report(report("e1", "alice", lease_ms=0)))
    with pytest.raises(InvalidArgument):
        await call(env.stub.Report(report("", "alice")))


async def test_a_watcher_that_does_not_read_is_cut_off_with_resource_exhausted() -> None:
    async for env in started(PresenceConfig(debounce_ms=DEBOUNCE, max_watch_queue=2)):
        watch = await env.watch()
        # Never read: once gRPC flow control stops the server's writes, changes pile up in
        # the watcher's queue until it overflows and the backend drops the subscription.
        padding = "x" * 1000
        for round_ in range(400):
            if env.backend.subscriber_count == 0:
                break
            users = [f"{padding}-{round_}-{i}" for i in range(100)]
            await call(env.stub.Report(report(f"e{round_}", *users)))
        assert env.backend.subscriber_count == 0
        with pytest.raises(aio.AioRpcError) as failure:
            async with asyncio.timeout(60):
                while await watch.read() is not aio.EOF:
                    pass
        assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (ERROR_CODE_KEY, "SLOW_CONSUMER") in tuple(failure.value.trailing_metadata() or ())


async def test_the_expiry_task_publishes_offline_on_its_own_timer() -> None:
    """Real clock, tiny debounce: nobody calls expire(); the service's task must."""
    service = await start_presence(PresenceConfig(debounce_ms=20))
    channel = insecure_channel(service.target)
    stub = presence_pb2_grpc.PresenceStub(channel)
    watch: WatchCall = stub.Watch(presence_pb2.WatchRequest())
    try:
        async with asyncio.timeout(30):
            await watch.initial_metadata()
        await call(stub.Report(report("e1", "alice", lease_ms=60_000)))
        await call(stub.Report(report("e1", "alice", online=False, lease_ms=60_000)))
        assert [(u, s) for u, s, _ in await next_snapshot(watch)] == [("alice", ONLINE)]
        assert [(u, s) for u, s, _ in await next_snapshot(watch)] == [("alice", OFFLINE)]
    finally:
        watch.cancel()
        await channel.close()
        await service.stop(0.5)
