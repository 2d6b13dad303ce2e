"""Contract of the session directory, run against every backend: memory, Redis standalone and
Redis Cluster (real servers, a fresh key namespace per test, a fake clock for every backend)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kernel.clock import ManualClock
from kernel.errors import InvalidArgument
from kernel.redis_keys import DirectoryKeys
from router.directory import MemoryDirectory, SessionDirectory
from router.redis_directory import RedisDirectory
from tests.redis_servers import REDIS_SETUPS, redis_target

LEASE = 10_000


@pytest.fixture(params=["memory", *REDIS_SETUPS])
async def leased(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SessionDirectory, ManualClock]]:
    clock = ManualClock()
    if request.param == "memory":
        yield MemoryDirectory(clock), clock
        return
    target = redis_target(request, request.param)
    backend = RedisDirectory.connect(
        target.url, cluster=target.cluster, clock=clock, keys=DirectoryKeys(target.namespace)
    )
    yield backend, clock
    await backend.close()


@pytest.fixture
def directory(leased: tuple[SessionDirectory, ManualClock]) -> SessionDirectory:
    return leased[0]


def snapshot(placement: object) -> dict[str, dict[str, set[tuple[int, str]]]]:
    assert isinstance(placement, dict)
    return {
        user: {edge: set(entries) for edge, entries in edges.items()} for user, edges in placement.items()
    }


async def test_sessions_are_found_per_user_and_edge(directory: SessionDirectory) -> None:
    await directory.add("e1", "ann", 1, "phone")
    await directory.add("e2", "ann", 1, "laptop")  # same session id on another edge
    await directory.add("e1", "ben", 2, "phone")
    placement = snapshot(await directory.lookup(["ann", "ben", "nobody"]))
    assert placement == {
        "ann": {"e1": {(1, "phone")}, "e2": {(1, "laptop")}},
        "ben": {"e1": {(2, "phone")}},
    }
    assert await directory.session_count() == 3


async def test_closed_sessions_disappear_and_unknown_closes_are_ignored(directory: SessionDirectory) -> None:
    await directory.add("e1", "ann", 1, "phone")
    await directory.add("e1", "ann", 2, "tablet")
    await directory.remove("e1", 1)
    await directory.remove("e1", 99)
    await directory.remove("e9", 1)
    assert snapshot(await directory.lookup(["ann"])) == {"ann": {"e1": {(2, "tablet")}}}
    await directory.remove("e1", 2)
    assert snapshot(await directory.lookup(["ann"])) == {}


async def test_replayed_opens_are_idempotent(directory: SessionDirectory) -> None:
    await directory.add("e1", "ann", 1, "phone")
    await directory.add("e1", "ann", 1, "phone")
    assert await directory.session_count() == 1


async def test_a_reused_session_id_belongs_to_its_latest_owner(directory: SessionDirectory) -> None:
    await directory.add("e1", "ann", 1, "phone")
    await directory.add("e1", "ben", 1, "phone")
    assert snapshot(await directory.lookup(["ann", "ben"])) == {"ben": {"e1": {(1, "phone")}}}


async def test_dropping_an_edge_forgets_only_its_sessions(directory: SessionDirectory) -> None:
    await directory.add("e1", "ann", 1, "phone")
    await directory.add("e2", "ann", 5, "laptop")
    await directory.add("e1", "ben", 2, "phone")
    assert await directory.drop_edge("e1") == 2
    assert await directory.drop_edge("e1") == 0
    assert snapshot(await directory.lookup(["ann", "ben"])) == {"ann": {"e2": {(5, "laptop")}}}


async def test_a_renewed_lease_keeps_the_edge_and_a_lapsed_one_clears_it(
    leased: tuple[SessionDirectory, ManualClock],
) -> None:
    directory, clock = leased
    assert not await directory.renew_edge("e1", LEASE), "no lease was ever taken"
    await directory.restate_edge("e1", [("ann", 1, "phone"), ("ben", 2, "phone")], LEASE)
    await directory.restate_edge("e2", [("ann", 7, "laptop")], 3 * LEASE)
    assert await directory.expire() == clock.now_ms() + LEASE
    clock.advance(LEASE - 1)
    assert await directory.renew_edge("e1", LEASE)
    clock.advance(LEASE - 1)
    await directory.expire()
    assert snapshot(await directory.lookup(["ann", "ben"])) == {
        "ann": {"e1": {(1, "phone")}, "e2": {(7, "laptop")}},
        "ben": {"e1": {(2, "phone")}},
    }
    clock.advance(2)  # e1's renewed lease lapses; e2's has time left
    assert not await directory.renew_edge("e1", LEASE), "too late: the edge must restate"
    assert await directory.expire() == clock.now_ms() - 2 * LEASE + 3 * LEASE
    assert snapshot(await directory.lookup(["ann", "ben"])) == {"ann": {"e2": {(7, "laptop")}}}
    assert await directory.session_count() == 1


async def test_a_restate_replaces_every_session_of_the_edge(
    leased: tuple[SessionDirectory, ManualClock],
) -> None:
    directory, _ = leased
    await directory.restate_edge("e1", [("ann", 1, "phone"), ("ben", 2, "phone")], LEASE)
    await directory.add("e1", "cat", 3, "tablet")
    await directory.restate_edge("e1", [("ben", 2, "phone"), ("dan", 4, "phone")], LEASE)
    assert snapshot(await directory.lookup(["ann", "ben", "cat", "dan"])) == {
        "ben": {"e1": {(2, "phone")}},
        "dan": {"e1": {(4, "phone")}},
    }
    assert await directory.renew_edge("e1", LEASE)


async def test_an_edge_that_never_took_a_lease_is_held_until_dropped(
    leased: tuple[SessionDirectory, ManualClock],
) -> None:
    directory, clock = leased
    await directory.add("e1", "ann", 1, "phone")
    clock.advance(100 * LEASE)
    assert await directory.expire() is None
    assert snapshot(await directory.lookup(["ann"])) == {"ann": {"e1": {(1, "phone")}}}


async def test_a_lease_must_be_positive(directory: SessionDirectory) -> None:
    with pytest.raises(InvalidArgument):
        await directory.renew_edge("e1", 0)
    with pytest.raises(InvalidArgument):
        await directory.restate_edge("e1", [], -1)


async def test_a_fan_out_lookup_of_many_users_finds_each(directory: SessionDirectory) -> None:
    users = [f"u{i}" for i in range(500)]
    await directory.restate_edge("e1", [(u, i, "phone") for i, u in enumerate(users[::2])], LEASE)
    await directory.restate_edge("e2", [(u, i, "laptop") for i, u in enumerate(users[1::2])], LEASE)
    placement = snapshot(await directory.lookup([*users, "nobody"]))
    assert len(placement) == 500
    assert placement["u0"] == {"e1": {(0, "phone")}}
    assert placement["u499"] == {"e2": {(249, "laptop")}}


async def test_a_batch_of_changes_is_applied_in_order(directory: SessionDirectory) -> None:
    await directory.add("e1", "ann", 1, "phone")
    await directory.write_sessions(
        "e1",
        [
            (True, "ben", 2, "phone"),
            (False, "ann", 1, "phone"),
            (True, "cat", 3, "tablet"),
            (False, "cat", 3, "tablet"),  # opened and closed within one batch
            (True, "dan", 4, "phone"),
            (False, "dan", 4, "phone"),
            (True, "dan", 4, "phone"),  # closed and opened again: open
            (True, "eve", 2, "laptop"),  # a reused session id: its latest owner
        ],
    )
    await directory.write_sessions("e1", [])
    assert snapshot(await directory.lookup(["ann", "ben", "cat", "dan", "eve"])) == {
        "dan": {"e1": {(4, "phone")}},
        "eve": {"e1": {(2, "laptop")}},
    }
    assert await directory.session_count() == 2
