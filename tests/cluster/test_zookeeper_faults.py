"""ZooKeeper faults under steady traffic: the cluster's own 3-node ensemble loses its leader
(restarted once the service is back), then a follower; each time two of three nodes are left
(a quorum). Asserts that service continues through both deaths, nothing acked is lost or
stored twice, one order for all; prints the times."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.cluster.conftest import fault_config, populate, start
from tests.cluster.traffic import Traffic, check

pytestmark = pytest.mark.slow
ACKS_BETWEEN = 40
LIMIT_S = 60.0


async def test_killing_the_zookeeper_leader_then_a_follower_leaves_the_service_running(
    tmp_path: Path,
) -> None:
    cluster = await start(fault_config(tmp_path), zookeeper_hosts=None)  # an ensemble of its own
    ensemble = cluster.zookeeper
    assert ensemble is not None
    try:
        population = await populate(cluster)
        traffic = Traffic(population.members, population.conversations)
        try:
            traffic.start()
            await traffic.until_acks(ACKS_BETWEEN, LIMIT_S)
            leader = ensemble.leader()
            killed_at = time.monotonic()
            ensemble.kill(leader)
            after_leader = await traffic.until_every_conversation_acks_after(killed_at, LIMIT_S)
            await traffic.until_acks(ACKS_BETWEEN, LIMIT_S)
            await asyncio.to_thread(ensemble.restart, leader)  # three again before the next death
            follower = ensemble.followers()[0]
            killed_at = time.monotonic()
            ensemble.kill(follower)
            after_follower = await traffic.until_every_conversation_acks_after(killed_at, LIMIT_S)
            await traffic.until_acks(ACKS_BETWEEN, LIMIT_S)
            await traffic.stop()
            counts, disorder = await check(traffic, population.members[1].client)
        finally:
            await population.close()
        assert not disorder, disorder
        print(
            f"\nZooKeeper leader killed: every conversation acked again after {after_leader:.2f} s; "
            f"then a follower: after {after_follower:.2f} s; {counts}"
        )
    finally:
        await asyncio.to_thread(cluster.stop)
