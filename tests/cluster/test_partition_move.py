"""`hubbub admin move` on a 2-edge / 2-router cluster of processes under steady traffic: the
partition is handed off as a rebalance does (the old owner stops taking its sends, finishes
its in-flight writes, releases; the new one claims a higher epoch), and users notice only a
little latency: every acked message stored once, in one order for every member."""

from __future__ import annotations

import time

import pytest

from deploy.cluster.launcher import RunningCluster
from discovery import admin_cli
from kernel.partitions import partition_of
from tests.cluster.conftest import PARTITIONS, populate
from tests.cluster.traffic import Traffic, check

pytestmark = pytest.mark.slow
WARM_UP_ACKS = 40
AFTER_ACKS = 40
LIMIT_S = 60.0


async def admin(cluster: RunningCluster, *argv: str) -> str:
    """The admin CLI against the cluster's discovery, with the secret the launcher kept."""
    args = ["--target", cluster.discovery_target, "--data-dir", str(cluster.config.data_dir), *argv]
    return await admin_cli.run(admin_cli.build_parser("hubbub admin").parse_args(args))


def row_of(listing: str, partition: int) -> list[str]:
    return next(line.split() for line in listing.splitlines()[1:] if line.split()[0] == str(partition))


async def test_a_partition_moved_under_traffic_loses_nothing_and_stays_moved(cluster: RunningCluster) -> None:
    population = await populate(cluster)
    traffic = Traffic(population.members, population.conversations)
    conversation = population.conversations[0]
    partition = partition_of(conversation, PARTITIONS)
    source = population.owners[conversation]
    target = next(r.name for r in cluster.of_role("router") if r.name != source)
    _, owner, _, epoch_before, placed = row_of(await admin(cluster, "partitions"), partition)
    assert (owner, placed) == (source, "-")
    try:
        traffic.start()
        await traffic.until_acks(WARM_UP_ACKS, LIMIT_S)
        moved_at = time.monotonic()
        said = await admin(cluster, "move", str(partition), target)
        assert f"partition {partition}: owner {target}" in said
        recovery = await traffic.until_every_conversation_acks_after(moved_at, LIMIT_S)
        await traffic.until_acks(AFTER_ACKS, LIMIT_S)
        await traffic.stop()
        counts, disorder = await check(traffic, population.members[1].client)
    finally:
        await population.close()
    assert not disorder, disorder
    # Still there after the traffic (no balancer moved it back), at a higher epoch.
    _, owner, _, epoch_after, placed = row_of(await admin(cluster, "partitions"), partition)
    assert (owner, placed) == (target, target)
    assert int(epoch_after) > int(epoch_before)
    print(f"\nmove {partition} {source} -> {target}: all conversations acked again after {recovery:.2f} s")
    print(counts)
    assert counts["acked"] > WARM_UP_ACKS + AFTER_ACKS
