"""What only a shared backend can show: several presence processes over one Redis (standalone
and Cluster) publish each change once and deliver it once to every watcher; and a Redis
restart is survived (watchers are told to resubscribe, edges restate their sessions)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

import pytest
from redis.asyncio import RedisCluster

from deploy.local_servers.redis import RedisClusterNodes, RedisNode
from kernel.clock import ManualClock
from kernel.errors import ErrorCode, Unavailable
from kernel.redis_keys import PresenceKeys
from presence.interface import ChangeStream
from presence.model import EdgeReport, ReportAck, SessionChange, UserPresence
from presence.redis_backend import RedisPresence
from presence.subscription import SlowWatcher
from tests.redis_servers import REDIS_SETUPS, RedisTarget, redis_target

LEASE = 10_000
DEBOUNCE = 2_000


def online(edge: str, *users: str) -> EdgeReport:
    changes = tuple(SessionChange(u, "d1", i, True) for i, u in enumerate(users, start=1))
    return EdgeReport(edge_id=edge, lease_ms=LEASE, changes=changes)


async def next_batch(stream: ChangeStream) -> Sequence[UserPresence]:
    async with asyncio.timeout(30):
        return await anext(aiter(stream))


@pytest.fixture(params=REDIS_SETUPS)
async def shared(request: pytest.FixtureRequest) -> AsyncIterator[tuple[list[RedisPresence], ManualClock]]:
    """Three presence processes' backends sharing one namespace and one (fake) clock."""
    target: RedisTarget = redis_target(request, request.param)
    clock = ManualClock()
    backends = [
        RedisPresence.connect(
            target.url,
            clock,
            cluster=target.cluster,
            debounce_ms=DEBOUNCE,
            keys=PresenceKeys(target.namespace),
        )
        for _ in range(3)
    ]
    yield backends, clock
    for backend in backends:
        await backend.close()


@pytest.fixture
def processes(shared: tuple[list[RedisPresence], ManualClock]) -> list[RedisPresence]:
    return shared[0]


async def test_each_change_reaches_each_watcher_once_whichever_process_it_entered(
    processes: list[RedisPresence],
) -> None:
    first, second, third = processes
    watchers = [await first.subscribe(100), await second.subscribe(100), await third.subscribe(100)]
    await first.report(online("e1", "alice"))
    await second.report(online("e2", "alice"))  # already online: nobody is told again
    await third.report(online("e3", "bob"))
    for watcher in watchers:
        assert [u.user_id for u in await next_batch(watcher)] == ["alice"]
        assert [u.user_id for u in await next_batch(watcher)] == ["bob"]
    assert [u.online for u in await third.query(["alice", "bob"])] == [True, True]


async def test_racing_reports_for_one_user_settle_to_one_online_and_one_offline(
    shared: tuple[list[RedisPresence], ManualClock],
) -> None:
    """Ten edges, spread over three processes, open and later close the same user's sessions
    all at once: the writes race on the user's record, and each transition is told once."""
    backends, clock = shared
    watcher = await backends[0].subscribe(1000)

    def session(edge: int, is_online: bool) -> EdgeReport:
        change = SessionChange("ann", f"d{edge}", edge, is_online)
        return EdgeReport(edge_id=f"e{edge}", lease_ms=LEASE, changes=(change,))

    await asyncio.gather(*(backends[i % 3].report(session(i, True)) for i in range(10)))
    await backends[0].report(online("marker", "zed"))
    assert [u.user_id for u in await next_batch(watcher)] == ["ann"]
    assert [u.user_id for u in await next_batch(watcher)] == ["zed"]
    gone_at = clock.now_ms()
    await asyncio.gather(*(backends[i % 3].report(session(i, False)) for i in range(10)))
    clock.advance(DEBOUNCE)
    await asyncio.gather(*(backend.expire() for backend in backends))
    assert list(await next_batch(watcher)) == [UserPresence("ann", False, gone_at)]
    await backends[0].report(online("marker", "amy"))
    assert [u.user_id for u in await next_batch(watcher)] == ["amy"]


async def report_until_up(backend: RedisPresence, report: EdgeReport) -> ReportAck:
    """An edge retries a report that failed with a retryable error; bounded, never forever."""
    async with asyncio.timeout(30):
        while True:
            try:
                return await backend.report(report)
            except Unavailable as exc:
                assert exc.retryable


@pytest.mark.slow
async def test_a_redis_restart_is_survived(redis_restartable: RedisNode) -> None:
    clock = ManualClock()
    backend = RedisPresence.connect(redis_restartable.url, clock, keys=PresenceKeys("restart"))
    try:
        watcher = await backend.subscribe(100)
        await backend.report(online("e1", "alice", "bob"))
        assert len(await next_batch(watcher)) == 2

        began = time.monotonic()
        redis_restartable.restart()  # comes back empty: no persistence
        with pytest.raises(SlowWatcher) as cut:
            await next_batch(watcher)  # the feed broke: the watcher must resubscribe and re-query
        assert cut.value.code is ErrorCode.SLOW_CONSUMER and cut.value.retryable

        ack = await report_until_up(backend, online("e1", "carol"))
        assert ack.resync, "presence lost the edge's sessions, so it asks for them all"
        watcher = await backend.subscribe(100)
        snapshot = tuple(SessionChange(u, "d1", i, True) for i, u in enumerate(["alice", "bob", "carol"], 1))
        await report_until_up(backend, EdgeReport("e1", LEASE, snapshot, full_snapshot=True))
        assert [u.online for u in await backend.query(["alice", "bob", "carol"])] == [True, True, True]
        assert sorted(u.user_id for u in await next_batch(watcher)) == ["alice", "bob"]  # rebuilt
        await backend.report(online("e2", "dave"))
        assert [u.user_id for u in await next_batch(watcher)] == ["dave"]
        print(f"presence recovered from a redis restart in {time.monotonic() - began:.2f} s")
    finally:
        await backend.close()


@pytest.mark.slow
async def test_a_cluster_master_restart_is_noticed_and_repaired_by_a_snapshot(
    redis_cluster_restartable: RedisClusterNodes,
) -> None:
    cluster = redis_cluster_restartable
    clock = ManualClock()
    keys = PresenceKeys("shard")
    backend = RedisPresence.connect(cluster.url, clock, cluster=True, keys=keys)
    users = [f"u{i}" for i in range(30)]  # spread over the three masters by their hash tags
    opened = [SessionChange(u, "d1", i, True) for i, u in enumerate(users)]
    second_device = SessionChange("u0", "d2", 100, True)
    try:
        await report_until_up(backend, EdgeReport("e1", LEASE, (*opened, second_device), full_snapshot=True))
        client = RedisCluster.from_url(cluster.url)
        await client.initialize()
        node = client.get_node_from_key(keys.user("u0"))
        await client.aclose()
        assert node is not None
        began = time.monotonic()
        cluster.restart(int(node.port))  # u0's master comes back empty; the others keep their keys
        closing = replace(second_device, online=False)
        ack = await report_until_up(backend, EdgeReport("e1", LEASE, (closing,)))
        assert ack.resync, "the edge is told to restate: part of what it reported was lost"
        await report_until_up(backend, EdgeReport("e1", LEASE, tuple(opened), full_snapshot=True))
        assert all(u.online for u in await backend.query(users))
        print(f"presence recovered from a cluster master restart in {time.monotonic() - began:.2f} s")
    finally:
        await backend.close()
