"""What only the Redis directory can show: many routers read what edges wrote, one edge's
lapse is cleared once whoever expires it, and a Redis restart is survived (the edge's renewal
comes back False, it restates its live sessions, routers find them again)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from deploy.local_servers.redis import RedisNode
from kernel.clock import ManualClock
from kernel.errors import Unavailable
from kernel.redis_keys import DirectoryKeys
from router.directory import OpenSession
from router.redis_directory import RedisDirectory
from tests.redis_servers import REDIS_SETUPS, RedisTarget, redis_target

LEASE = 10_000
Processes = tuple[list[RedisDirectory], ManualClock]


@pytest.fixture(params=REDIS_SETUPS)
async def processes(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[list[RedisDirectory], ManualClock]]:
    """An edge's and two routers' clients on one namespace and one (fake) clock."""
    target: RedisTarget = redis_target(request, request.param)
    clock = ManualClock()
    clients = [
        RedisDirectory.connect(
            target.url, cluster=target.cluster, clock=clock, keys=DirectoryKeys(target.namespace)
        )
        for _ in range(3)
    ]
    yield clients, clock
    for client in clients:
        await client.close()


async def test_routers_see_what_edges_wrote_and_a_lapse_is_cleared_once(processes: Processes) -> None:
    (edge, router_a, router_b), clock = processes
    await edge.restate_edge("e1", [("ann", 1, "phone"), ("ben", 2, "phone")], LEASE)
    await router_a.restate_edge("e2", [("ann", 9, "laptop")], 3 * LEASE)  # another edge
    assert await router_b.lookup(["ann"]) == {"ann": {"e1": {(1, "phone")}, "e2": {(9, "laptop")}}}
    clock.advance(LEASE)
    await asyncio.gather(router_a.expire(), router_b.expire())  # both notice; e1 goes once
    assert await router_a.lookup(["ann", "ben"]) == {"ann": {"e2": {(9, "laptop")}}}
    assert await router_b.session_count() == 1


async def restate_until_up(directory: RedisDirectory, edge_id: str, sessions: list[OpenSession]) -> None:
    """What an edge does when a renewal fails or comes back False; bounded, never forever."""
    async with asyncio.timeout(30):
        while True:
            try:
                if await directory.renew_edge(edge_id, LEASE):
                    return
                await directory.restate_edge(edge_id, sessions, LEASE)
                return
            except Unavailable as exc:
                assert exc.retryable


@pytest.mark.slow
async def test_a_redis_restart_is_survived_by_edges_restating(redis_restartable: RedisNode) -> None:
    clock = ManualClock()
    edge = RedisDirectory.connect(redis_restartable.url, clock=clock, keys=DirectoryKeys("restart"))
    router = RedisDirectory.connect(redis_restartable.url, clock=clock, keys=DirectoryKeys("restart"))
    live: list[OpenSession] = [("ann", 1, "phone"), ("ben", 2, "phone")]
    try:
        await edge.restate_edge("e1", live, LEASE)
        began = time.monotonic()
        redis_restartable.restart()  # comes back empty
        await restate_until_up(edge, "e1", live)
        async with asyncio.timeout(30):
            while True:  # a router's lookup fails (retryable) until it reconnects
                try:
                    placement = await router.lookup(["ann", "ben"])
                    break
                except Unavailable:
                    continue
        assert placement == {"ann": {"e1": {(1, "phone")}}, "ben": {"e1": {(2, "phone")}}}
        print(f"the directory recovered from a redis restart in {time.monotonic() - began:.2f} s")
    finally:
        await edge.close()
        await router.close()
