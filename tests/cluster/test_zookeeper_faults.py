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
from tests.cluster.recovery import AFTER_ACKS, LIMIT_S, against_goal, finish, served_again
from tests.cluster.traffic import Traffic

pytestmark = pytest.mark.slow


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
            await traffic.until_acks(AFTER_ACKS, LIMIT_S)
            leader = ensemble.leader()
            killed_at = time.monotonic()
            ensemble.kill(leader)
            after_leader = await served_again(traffic, killed_at)
            await asyncio.to_thread(ensemble.restart, leader)  # three again before the next death
            follower = ensemble.followers()[0]
            killed_at = time.monotonic()
            ensemble.kill(follower)
            after_follower = await served_again(traffic, killed_at)
            await finish(
                traffic,
                population.members[1].client,
                f"ZooKeeper leader killed: every conversation acked again after "
                f"{against_goal(after_leader)}; then a follower: after {against_goal(after_follower)}",
            )
        finally:
            await population.close()
    finally:
        await asyncio.to_thread(cluster.stop)
