"""Router faults under steady traffic on a 2-edge / 2-router cluster of processes: a router
killed -9, a router frozen (SIGSTOP) past its ZooKeeper session and thawed. Each asserts what
users notice: every acked message stored once, in one order for every member, and sends
served again by themselves (clients only retry); each prints its recovery time (-s)."""

from __future__ import annotations

import time

import pytest

from deploy.cluster.launcher import RunningCluster
from tests.cluster.conftest import populate
from tests.cluster.recovery import AFTER_ACKS, LIMIT_S, against_goal, finish, goes_on_after, served_again
from tests.cluster.traffic import Traffic

pytestmark = pytest.mark.slow
WARM_UP_ACKS = 40


async def test_a_router_killed_under_traffic_loses_nothing_and_its_partitions_move(
    cluster: RunningCluster,
) -> None:
    population = await populate(cluster)
    traffic = Traffic(population.members, population.conversations)
    try:
        traffic.start()
        await traffic.until_acks(WARM_UP_ACKS, LIMIT_S)
        victim = population.owners[population.conversations[0]]
        killed_at = time.monotonic()
        cluster.process(victim).server.kill()
        recovery = await served_again(traffic, killed_at)
        counts = await finish(
            traffic,
            population.members[1].client,
            f"kill -9 {victim}: every conversation served again after {against_goal(recovery)}",
        )
    finally:
        await population.close()
    assert counts["acked"] > WARM_UP_ACKS + AFTER_ACKS


async def test_a_router_frozen_past_its_session_acks_and_writes_nothing_as_a_stale_owner(
    cluster: RunningCluster,
) -> None:
    population = await populate(cluster)
    traffic = Traffic(population.members, population.conversations)
    victim = population.owners[population.conversations[0]]
    frozen = cluster.process(victim).server
    try:
        traffic.start()
        await traffic.until_acks(WARM_UP_ACKS, LIMIT_S)
        frozen_at = time.monotonic()
        frozen.freeze()
        try:
            moved = await served_again(traffic, frozen_at)
        finally:
            frozen.thaw()
        thawed_at = time.monotonic()
        # Whatever the thawed router still held (sends it had read, appends it had begun) now
        # meets a sealed store and a map that moved on: the traffic must go on unharmed. It
        # still had fan-outs queued from before the freeze (messages it stored as the rightful
        # owner); the edges drop them once the new owner pushed later seqs
        # (edge/stale_deliveries.py), so no member sees a push after a later seq.
        after_thaw = await goes_on_after(traffic, thawed_at)
        await finish(
            traffic,
            population.members[1].client,
            f"SIGSTOP {victim}: every conversation served again after {against_goal(moved)}; "
            f"after SIGCONT every conversation acked within {after_thaw:.2f} s",
        )
    finally:
        frozen.thaw()
        await population.close()
    assert frozen.running(), "the thawed router lives on (it rejoins as a new session)"
