"""Contract of the session directory, run against every backend that can run here."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from router.directory import MemoryDirectory, SessionDirectory

BACKENDS: dict[str, Callable[[], SessionDirectory]] = {"memory": MemoryDirectory}


@pytest.fixture(params=sorted(BACKENDS))
def directory(request: pytest.FixtureRequest) -> SessionDirectory:
    return BACKENDS[request.param]()


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
