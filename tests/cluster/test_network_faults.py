"""A router cut off from ZooKeeper by the network under steady traffic, while its edges still
reach it: it runs in a network namespace of its own (tests/cluster/netns.py) and iptables there
drops its packets to the ensemble. Its session is suspended, then expires; it must stop acking
and writing for its partitions, which move to the other router once the session expired; the
cut mended, it rejoins. Asserts what users notice: every acked message stored once, in one
order for every member, sends served again by themselves; prints the recovery time (-s)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from deploy.cluster.launcher import RunningCluster
from deploy.cluster.processes import ProcessSpec
from deploy.local_servers.zookeeper import ZooKeeperEnsemble
from discovery.zk_ownership import ZkOwnership
from kernel.ownership import PartitionMap
from tests.cluster.conftest import PARTITIONS, SESSION_TIMEOUT_S, fault_config, populate, settings_of, start
from tests.cluster.netns import Namespace, network_namespace
from tests.cluster.recovery import LIMIT_S, against_goal, finish, goes_on_after, served_again
from tests.cluster.traffic import Traffic

pytestmark = pytest.mark.slow
CUT = "router-2"
WARM_UP_ACKS = 40


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    """Fails the test (never skips it) when the namespace cannot be made (not root, no ip or
    iptables); removed after the cluster stopped, however the test ended."""
    with network_namespace() as made:
        yield made


@pytest.fixture
async def cut_cluster(
    tmp_path: Path, zookeeper: ZooKeeperEnsemble, namespace: Namespace
) -> AsyncIterator[RunningCluster]:
    """The fault cluster with router CUT inside `namespace`, listening on its address there."""

    def place(spec: ProcessSpec) -> ProcessSpec:
        return namespace.place(spec) if spec.name == CUT else spec

    running = await start(fault_config(tmp_path), zookeeper.hosts, place)
    try:
        yield running
    finally:
        await asyncio.to_thread(running.stop)


def zookeeper_ports(hosts: str) -> list[int]:
    return [int(host.rsplit(":", 1)[1]) for host in hosts.split(",")]


async def until_map(observer: ZkOwnership, what: str, done: Callable[[PartitionMap], bool]) -> PartitionMap:
    """The first partition map (from the watch, no polling) for which `done(map)` holds."""
    async with asyncio.timeout(LIMIT_S):
        async for current in observer.watch():
            if done(current):
                return current
    raise AssertionError(f"the partition map watch ended before {what}")


async def test_a_router_cut_off_from_zookeeper_stops_its_partitions_move_and_it_rejoins_when_mended(
    cut_cluster: RunningCluster, namespace: Namespace
) -> None:
    cluster = cut_cluster
    assert cluster.process(CUT).addresses["router_target"].startswith(namespace.address + ":")
    population = await populate(cluster)
    assert CUT in population.owners.values(), "some groups are on the router to cut"
    traffic = Traffic(population.members, population.conversations)
    observer = await ZkOwnership.connect(settings_of(cluster), PARTITIONS)
    try:
        traffic.start()
        await traffic.until_acks(WARM_UP_ACKS, LIMIT_S)
        held = set((await observer.current()).held_by(CUT))
        cut_at = time.monotonic()
        namespace.cut(zookeeper_ports(cluster.zookeeper_hosts))
        await until_map(observer, "the cut router's partitions moved", lambda m: not m.held_by(CUT))
        moved_at = time.monotonic()
        # Until its session is suspended the cut router still owns and acks (rightly: nobody
        # else may take its partitions before the session expired), so the recovery a user
        # sees runs from the cut to the first acks by the new owner.
        served = moved_at - cut_at + await served_again(traffic, moved_at)
        on_cut = {c for c, owner in population.owners.items() if owner == CUT}
        times = sorted(a.at for a in traffic.acks if a.conversation_id in on_cut and a.at > cut_at)
        # From its suspension (it stops acking) to the new owner's first acks: no ack at all.
        silent = max(b - a for a, b in zip([cut_at, *times], times, strict=False))
        namespace.mend()
        mended_at = time.monotonic()
        # A new session: the balancer gives it a share again, a planned handoff under traffic.
        await until_map(observer, "the mended router's rejoining", lambda m: bool(m.held_by(CUT)))
        rejoined = time.monotonic() - mended_at
        after_mend = await goes_on_after(traffic, mended_at)
        await finish(
            traffic,
            population.members[1].client,
            f"{CUT} cut off from ZooKeeper: its {len(held)} partitions moved after "
            f"{moved_at - cut_at:.2f} s, their conversations went unacked for at most {silent:.2f} s "
            f"(session {SESSION_TIMEOUT_S:.0f} s); every conversation served again after "
            f"{against_goal(served)}; mended: it held partitions again after {rejoined:.2f} s, "
            f"every conversation acked within {after_mend:.2f} s",
        )
    finally:
        namespace.mend()
        await observer.close()
        await population.close()
    assert cluster.process(CUT).server.running(), "the cut router lives on (it rejoined)"
