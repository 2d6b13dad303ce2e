"""The PresenceBackend contract, run against every backend: memory, Redis standalone and
Redis Cluster (real servers, a fresh key namespace per test; the clock is a fake for all)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from kernel.clock import ManualClock
from kernel.redis_keys import PresenceKeys
from presence.interface import ChangeStream, PresenceBackend
from presence.memory import MemoryPresence
from presence.model import EdgeReport, SessionChange, UserPresence
from presence.redis_backend import RedisPresence
from presence.subscription import SlowWatcher
from tests.redis_servers import REDIS_SETUPS, redis_target

LEASE = 10_000
DEBOUNCE = 2_000


def make_backend(request: pytest.FixtureRequest, setup: str, clock: ManualClock) -> PresenceBackend:
    if setup == "memory":
        return MemoryPresence(clock, debounce_ms=DEBOUNCE)
    target = redis_target(request, setup)
    return RedisPresence.connect(
        target.url,
        clock,
        cluster=target.cluster,
        debounce_ms=DEBOUNCE,
        keys=PresenceKeys(target.namespace),
    )


@pytest.fixture(params=["memory", *REDIS_SETUPS])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[tuple[PresenceBackend, ManualClock]]:
    clock = ManualClock()
    backend = make_backend(request, request.param, clock)
    yield backend, clock
    await backend.close()


def sessions(edge: str, *users: str, online: bool = True) -> EdgeReport:
    changes = tuple(SessionChange(u, "d1", i, online) for i, u in enumerate(users, start=1))
    return EdgeReport(edge_id=edge, lease_ms=LEASE, changes=changes)


async def next_batch(stream: ChangeStream) -> Sequence[UserPresence]:
    async with asyncio.timeout(30):
        return await anext(aiter(stream))


async def test_report_publishes_online_to_every_subscriber_and_query_agrees(
    env: tuple[PresenceBackend, ManualClock],
) -> None:
    backend, clock = env
    first, second = await backend.subscribe(100), await backend.subscribe(100)
    now = (await backend.report(sessions("e1", "alice", "bob"))).applied_at_ms
    assert now == clock.now_ms()
    expected = [UserPresence("alice", True, now), UserPresence("bob", True, now)]
    assert sorted(await next_batch(first), key=lambda u: u.user_id) == expected
    assert sorted(await next_batch(second), key=lambda u: u.user_id) == expected
    clock.advance(500)
    assert await backend.query(["bob", "nobody"]) == [
        UserPresence("bob", True, clock.now_ms()),
        UserPresence("nobody", False, 0),
    ]


async def test_expire_publishes_the_offline_of_a_lapsed_edge(
    env: tuple[PresenceBackend, ManualClock],
) -> None:
    backend, clock = env
    stream = await backend.subscribe(100)
    start = (await backend.report(sessions("e1", "alice"))).applied_at_ms
    assert [u.online for u in await next_batch(stream)] == [True]
    assert await backend.expire() == start + LEASE
    clock.advance(LEASE + DEBOUNCE)
    assert await backend.expire() is None
    assert list(await next_batch(stream)) == [UserPresence("alice", False, start + LEASE)]
    assert await backend.query(["alice"]) == [UserPresence("alice", False, start + LEASE)]


async def test_a_slow_subscriber_is_cut_off_and_the_others_carry_on(
    env: tuple[PresenceBackend, ManualClock],
) -> None:
    backend, _ = env
    slow, fast = await backend.subscribe(2), await backend.subscribe(100)
    await backend.report(sessions("e1", "u1"))
    await backend.report(sessions("e2", "u2"))
    await backend.report(sessions("e3", "u3"))  # the slow one holds 2 changes and gets a third
    # the fast one first: once it has all three, so was the slow one offered them (a backend
    # may deliver after `report` returns; each batch is offered to every subscriber at once)
    seen = [u.user_id for _ in range(3) for u in await next_batch(fast)]
    assert seen == ["u1", "u2", "u3"]
    with pytest.raises(SlowWatcher):
        async with asyncio.timeout(30):
            async for _ in slow:
                pass


async def test_a_first_batch_larger_than_the_bound_is_still_delivered(
    env: tuple[PresenceBackend, ManualClock],
) -> None:
    backend, _ = env
    stream = await backend.subscribe(2)
    await backend.report(sessions("e1", "a", "b", "c", "d"))
    assert len(await next_batch(stream)) == 4


async def test_closing_the_backend_ends_subscriptions(env: tuple[PresenceBackend, ManualClock]) -> None:
    backend, _ = env
    stream = await backend.subscribe(10)
    await backend.close()
    async with asyncio.timeout(30):
        assert [batch async for batch in stream] == []


async def test_a_closed_subscription_receives_nothing_more(env: tuple[PresenceBackend, ManualClock]) -> None:
    backend, _ = env
    stream = await backend.subscribe(10)
    stream.close()
    await backend.report(sessions("e1", "alice"))
    async with asyncio.timeout(30):
        assert [batch async for batch in stream] == []


async def test_an_edge_presence_lost_track_of_is_asked_to_resync(
    env: tuple[PresenceBackend, ManualClock],
) -> None:
    backend, clock = env
    assert (await backend.report(sessions("e1", "alice"))).resync, "a first partial report is unknown"
    assert not (await backend.report(sessions("e1", "bob"))).resync
    clock.advance(LEASE + 1)
    assert (await backend.report(sessions("e1", "carol"))).resync, "the lease lapsed: restate"
    snapshot = EdgeReport(edge_id="e1", lease_ms=LEASE, changes=(), full_snapshot=True)
    assert not (await backend.report(snapshot)).resync


async def test_a_flap_inside_the_debounce_window_tells_nobody(
    env: tuple[PresenceBackend, ManualClock],
) -> None:
    backend, clock = env
    stream = await backend.subscribe(100)
    await backend.report(sessions("e1", "alice"))
    assert [u.user_id for u in await next_batch(stream)] == ["alice"]
    await backend.report(sessions("e1", "alice", online=False))
    clock.advance(DEBOUNCE - 1)
    await backend.report(sessions("e1", "alice"))
    clock.advance(DEBOUNCE + 1)
    await backend.expire()
    await backend.report(sessions("e2", "bob"))  # a marker: whatever came before it, came
    assert [u.user_id for u in await next_batch(stream)] == ["bob"]
    assert (await backend.query(["alice"]))[0].online


async def test_a_user_on_two_edges_goes_offline_only_when_both_are_gone(
    env: tuple[PresenceBackend, ManualClock],
) -> None:
    backend, clock = env
    stream = await backend.subscribe(100)
    await backend.report(sessions("e1", "alice"))
    await backend.report(sessions("e2", "alice"))
    assert [u.user_id for u in await next_batch(stream)] == ["alice"]
    await backend.report(sessions("e1", "alice", online=False))
    clock.advance(DEBOUNCE + 1)
    await backend.expire()
    assert (await backend.query(["alice"]))[0].online
    gone_at = (await backend.report(sessions("e2", "alice", online=False))).applied_at_ms
    clock.advance(DEBOUNCE)
    await backend.expire()
    assert list(await next_batch(stream)) == [UserPresence("alice", False, gone_at)]


async def test_a_full_snapshot_forgets_the_sessions_it_does_not_list(
    env: tuple[PresenceBackend, ManualClock],
) -> None:
    backend, clock = env
    stream = await backend.subscribe(100)
    await backend.report(sessions("e1", "alice", "bob"))
    assert len(await next_batch(stream)) == 2
    bob = SessionChange("bob", "d1", 2, True)
    carol = SessionChange("carol", "d1", 7, True)
    snapshot_at = clock.now_ms()
    await backend.report(EdgeReport(edge_id="e1", lease_ms=LEASE, changes=(bob, carol), full_snapshot=True))
    assert list(await next_batch(stream)) == [UserPresence("carol", True, snapshot_at)]
    clock.advance(DEBOUNCE)
    await backend.expire()
    assert list(await next_batch(stream)) == [UserPresence("alice", False, snapshot_at)]
    assert [u.online for u in await backend.query(["alice", "bob", "carol"])] == [False, True, True]


async def test_a_report_after_the_lease_lapsed_counts_the_old_sessions_gone(
    env: tuple[PresenceBackend, ManualClock],
) -> None:
    backend, clock = env
    stream = await backend.subscribe(100)
    start = (await backend.report(sessions("e1", "alice"))).applied_at_ms
    assert len(await next_batch(stream)) == 1
    clock.advance(LEASE + DEBOUNCE)  # nobody ran expire(): the report itself must see the lapse
    await backend.report(sessions("e1", "bob"))
    assert list(await next_batch(stream)) == [UserPresence("bob", True, clock.now_ms())]
    await backend.expire()
    assert list(await next_batch(stream)) == [UserPresence("alice", False, start + LEASE)]
