"""ZooKeeper faults at the backend level, on an ensemble of these tests' own (they kill its
nodes): the leader and then a follower die under a router's session, a registered edge and a
watcher; a router is cut off from ZooKeeper past its session timeout. Each prints the recovery
times it observed (run with -s to see them); none asserts on time."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from deploy.local_servers.zookeeper import ZooKeeperEnsemble, start_zookeeper
from discovery.model import NodeInfo, NodeKind
from discovery.zk_ownership import ZkOwnership, ZkOwnershipSession
from discovery.zk_paths import ZooKeeperSettings
from discovery.zk_registry import ZkRegistry
from kernel.errors import Conflict
from kernel.ownership import OwnershipLost, PartitionMap, SessionState
from tests.cuttable_proxy import CuttableProxy
from tests.discovery.registry_contract import until
from tests.discovery.zk_helpers import STATE_WAIT_S, upstreams, wait_for_state
from tests.zookeeper_fixtures import settings_for

pytestmark = pytest.mark.slow
P = 16
SESSION_TIMEOUT_S = 4.0


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperEnsemble]:
    started = start_zookeeper(tmp_path_factory.mktemp("zookeeper-faults"), nodes=3)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def settings(ensemble: ZooKeeperEnsemble) -> ZooKeeperSettings:
    return settings_for(ensemble, session_timeout_s=SESSION_TIMEOUT_S)


def report(what: str, seconds: float) -> None:
    print(f"\nzookeeper recovery: {what}: {seconds * 1000:.0f} ms")


async def map_where(watch: AsyncIterator[PartitionMap], ok: Callable[[PartitionMap], bool]) -> PartitionMap:
    async def scan() -> PartitionMap:
        async for current in watch:
            if ok(current):
                return current
        raise AssertionError("the watch ended")

    return await asyncio.wait_for(scan(), STATE_WAIT_S)


def owned_at(partition: int, epoch: int) -> Callable[[PartitionMap], bool]:
    def ok(current: PartitionMap) -> bool:
        owner = current.owner(partition)
        return owner is not None and owner.epoch == epoch

    return ok


async def claim_through(session: ZkOwnershipSession, partition: int) -> int:
    """Claim, riding out a suspension (a claim cut short by it is retried: claiming what the
    session holds returns its epoch)."""
    deadline = time.monotonic() + STATE_WAIT_S
    while True:
        changes = session.state_changes()
        try:
            return await session.claim(partition)
        except OwnershipLost:
            assert time.monotonic() < deadline and session.state is not SessionState.LOST
            if session.state is not SessionState.CONNECTED:
                await wait_for_state(changes, SessionState.CONNECTED)


async def test_the_leader_then_a_follower_die_and_sessions_claims_and_nodes_survive(
    ensemble: ZooKeeperEnsemble, settings: ZooKeeperSettings
) -> None:
    backend = await ZkOwnership.connect(settings, P)
    registry = await ZkRegistry.connect(settings)
    try:
        router = await backend.open_session("r1", "h:1")
        held = {p: await router.claim(p) for p in range(4)}
        edge = NodeInfo("edge-1", NodeKind.EDGE, "h:2", zone="z1", capacity=10)
        await registry.register(edge)
        watch = backend.watch()
        await map_where(watch, lambda m: all(m.owner(p) for p in held))
        for turn, role in enumerate(("leader", "follower")):
            index = ensemble.leader() if role == "leader" else ensemble.followers()[0]
            killed_at = time.monotonic()
            ensemble.kill(index)
            partition = 4 + turn
            epoch = await claim_through(router, partition)
            report(f"{role} killed -> a new claim succeeds", time.monotonic() - killed_at)
            await map_where(watch, owned_at(partition, epoch))
            report(f"{role} killed -> a watcher sees the new claim", time.monotonic() - killed_at)
            held[partition] = epoch
            current = await backend.current()
            assert {p: o.epoch for p, o in enumerate(current.owners) if o} == held, "every claim, same epochs"
            assert router.state is SessionState.CONNECTED
            assert await registry.list_nodes() == [edge], "the registration survived"
            ensemble.restart(index)
    finally:
        await registry.close()
        await backend.close()


async def test_a_router_cut_off_past_its_session_is_suspended_then_lost_then_replaced(
    ensemble: ZooKeeperEnsemble, settings: ZooKeeperSettings
) -> None:
    proxy = CuttableProxy(upstreams(ensemble))
    hosts_of = {"r1": proxy.address}
    backend = await ZkOwnership.connect(settings, P, hosts_of=lambda r: hosts_of.get(r, settings.hosts))
    try:
        r1 = await backend.open_session("r1", "h:1")
        r2 = await backend.open_session("r2", "h:2")
        old = {p: await r1.claim(p) for p in range(4)}
        watch = backend.watch()
        await map_where(watch, lambda m: all(m.owner(p) for p in old))
        changes = r1.state_changes()
        cut_at = time.monotonic()
        proxy.cut()
        await wait_for_state(changes, SessionState.SUSPENDED)
        suspended_after = time.monotonic() - cut_at
        report("cut off -> SUSPENDED", suspended_after)
        with pytest.raises(Conflict):
            await r2.claim(0)  # suspended, not expired: it may still be writing
        await map_where(watch, lambda m: not any(m.owner(p) for p in old))
        expired_after = time.monotonic() - cut_at
        report("cut off -> the ensemble expires it (its partitions are free)", expired_after)
        new = {p: await r2.claim(p) for p in old}
        report("cut off -> another router owns its partitions", time.monotonic() - cut_at)
        assert all(new[p] > old[p] for p in old), "the new owner's epochs fence the old one"
        await wait_for_state(changes, SessionState.LOST)
        report("cut off -> LOST reported", time.monotonic() - cut_at)
        assert suspended_after < expired_after, "it stopped before anyone could take over"
        with pytest.raises(OwnershipLost):
            await r1.claim(9)
        proxy.mend()  # back on the network: the old session stays lost and claims nothing
        assert (await backend.current()).held_by("r2") == new
        assert (await backend.current()).held_by("r1") == {}
        again = await backend.open_session("r1", "h:1")  # the router starts over, in a new session
        assert await again.claim(9) >= 1
    finally:
        await backend.close()
        proxy.close()


async def test_a_frozen_ensemble_suspends_then_loses_a_router_and_its_partitions_move_after(
    ensemble: ZooKeeperEnsemble, settings: ZooKeeperSettings
) -> None:
    backend = await ZkOwnership.connect(settings, P)
    try:
        r1 = await backend.open_session("r1", "h:1")
        old = {p: await r1.claim(p) for p in range(4)}
        changes = r1.state_changes()
        frozen_at = time.monotonic()
        ensemble.freeze()  # every node: the link goes silent rather than down
        try:
            await wait_for_state(changes, SessionState.SUSPENDED)
            report("ensemble frozen -> SUSPENDED (a silent link)", time.monotonic() - frozen_at)
            await wait_for_state(changes, SessionState.LOST)
            report("ensemble frozen -> LOST reported (still frozen)", time.monotonic() - frozen_at)
        finally:
            ensemble.thaw()
        thawed_at = time.monotonic()
        ensemble.wait_serving()
        r2 = await backend.open_session("r2", "h:2")
        watch = backend.watch()
        await map_where(watch, lambda m: not any(m.owner(p) for p in old))
        report("thawed -> the lost router's partitions are free", time.monotonic() - thawed_at)
        new = {p: await r2.claim(p) for p in old}
        report("thawed -> another router owns them", time.monotonic() - thawed_at)
        assert all(new[p] > old[p] for p in old)
        with pytest.raises(OwnershipLost):
            await r1.claim(0)
    finally:
        await backend.close()


async def test_a_node_registered_by_a_cut_off_process_goes_when_its_session_expires(
    ensemble: ZooKeeperEnsemble, settings: ZooKeeperSettings
) -> None:
    proxy = CuttableProxy(upstreams(ensemble))
    observer = await ZkRegistry.connect(settings)
    edge_process = await ZkRegistry.connect(dataclasses.replace(settings), hosts=proxy.address)
    try:
        await edge_process.register(NodeInfo("edge-1", NodeKind.EDGE, "h:1"))
        watch = observer.watch()
        await until(watch, lambda nodes: bool(nodes))
        cut_at = time.monotonic()
        proxy.cut()
        await until(watch, lambda nodes: not nodes)
        report("edge cut off -> its node leaves the registry", time.monotonic() - cut_at)
    finally:
        await edge_process.close()
        await observer.close()
        proxy.close()
