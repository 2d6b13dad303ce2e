"""Cluster processes on a real ZooKeeper ensemble: two routers (deploy/cluster_router.py,
router/cluster_balance.py) split the partitions, the survivor takes them all when the other
is killed -9 (after its session expires), a frozen one comes back; an edge routes by the map
it watches there, and an edge process registers itself with its placement. No messages flow
here, so the routers run without Seal (`seal` off) against an address nobody serves: what is
tested is the split."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from deploy.local_servers.process import LocalServer, free_port, start_server
from deploy.local_servers.zookeeper import ZooKeeperEnsemble
from discovery.model import NodeKind
from discovery.zk_ownership import ZkOwnership
from discovery.zk_paths import ZooKeeperSettings
from discovery.zk_registry import ZkRegistry
from edge import start_edge
from edge.config import EdgeConfig
from kernel.ownership import PartitionMap
from tests.discovery.registry_contract import until
from tests.zookeeper_fixtures import settings_for

pytestmark = pytest.mark.slow
P = 16
SESSION_TIMEOUT_S = 4.0
WAIT_S = 60.0


def start_router_process(name: str, settings: ZooKeeperSettings, log_dir: Path) -> LocalServer:
    log_path = log_dir / f"{name}.log"
    env = {
        "HUBBUB_ROUTER_ID": name,
        "HUBBUB_PARTITIONS": str(P),
        "HUBBUB_SEAL": "0",
        "HUBBUB_MESSAGING_TARGET": f"127.0.0.1:{free_port()}",
        "HUBBUB_ZOOKEEPER_HOSTS": settings.hosts,
        "HUBBUB_ZOOKEEPER_ROOT": settings.root,
        "HUBBUB_ZOOKEEPER_SESSION_TIMEOUT_S": str(settings.session_timeout_s),
    }

    def ready() -> bool:
        return log_path.exists() and b'"router_target"' in log_path.read_bytes()

    return start_server(
        name, [sys.executable, "-m", "deploy.cluster_router"], log_path=log_path, ready=ready, env=env
    )


@pytest.fixture
def settings(zookeeper: ZooKeeperEnsemble) -> ZooKeeperSettings:
    return settings_for(zookeeper, session_timeout_s=SESSION_TIMEOUT_S)


@pytest.fixture
def processes() -> Iterator[list[LocalServer]]:
    started: list[LocalServer] = []
    yield started
    for process in started:
        process.stop()


async def map_where(watch: AsyncIterator[PartitionMap], ok: Callable[[PartitionMap], bool]) -> PartitionMap:
    async def scan() -> PartitionMap:
        async for current in watch:
            if ok(current):
                return current
        raise AssertionError("the watch ended")

    return await asyncio.wait_for(scan(), WAIT_S)


def split_between(*routers: str) -> Callable[[PartitionMap], bool]:
    def ok(current: PartitionMap) -> bool:
        counts = [len(current.held_by(r)) for r in routers]
        return all(o is not None for o in current.owners) and max(counts) - min(counts) <= 1

    return ok


async def test_two_router_processes_split_the_partitions_and_one_takes_all_when_the_other_dies(
    settings: ZooKeeperSettings, processes: list[LocalServer], tmp_path: Path
) -> None:
    observer = await ZkOwnership.connect(settings, P)
    try:
        watch = observer.watch()
        processes.append(start_router_process("router-a", settings, tmp_path))
        alone = await map_where(watch, split_between("router-a"))
        assert len(alone.held_by("router-a")) == P, "one router owns every partition"
        processes.append(start_router_process("router-b", settings, tmp_path))
        split = await map_where(watch, split_between("router-a", "router-b"))
        a_held, b_held = split.held_by("router-a"), split.held_by("router-b")
        assert len(a_held) == len(b_held) == P // 2 and not set(a_held) & set(b_held)
        registry = await ZkRegistry.connect(settings)
        try:
            reported = {
                (r.node_id, r.grpc_target, r.partitions, r.epoch)
                for r in await until(
                    registry.watch(NodeKind.ROUTER),
                    lambda routers: (
                        [r.partitions for r in routers] == [tuple(sorted(a_held)), tuple(sorted(b_held))]
                    ),
                )
            }
        finally:
            await registry.close()
        assert reported == {
            (r, split.routers()[r], tuple(sorted(held)), max(held.values()))
            for r, held in (("router-a", a_held), ("router-b", b_held))
        }, "each router registered itself with what it owns"
        assert all(epoch > alone.held_by("router-a")[p] for p, epoch in b_held.items()), (
            "handed off: higher epochs"
        )

        killed_at = time.monotonic()
        processes[0].kill()
        survivor = await map_where(watch, lambda m: len(m.held_by("router-b")) == P)
        print(
            f"\ncluster routers: router-a killed -> router-b owns every partition in "
            f"{(time.monotonic() - killed_at) * 1000:.0f} ms (session timeout {SESSION_TIMEOUT_S} s)"
        )
        assert all(survivor.held_by("router-b")[p] > epoch for p, epoch in a_held.items())
    finally:
        await observer.close()


async def test_a_router_frozen_past_its_session_loses_its_partitions_then_joins_again(
    settings: ZooKeeperSettings, processes: list[LocalServer], tmp_path: Path
) -> None:
    observer = await ZkOwnership.connect(settings, P)
    try:
        watch = observer.watch()
        processes.append(start_router_process("router-a", settings, tmp_path))
        processes.append(start_router_process("router-b", settings, tmp_path))
        split = await map_where(watch, split_between("router-a", "router-b"))
        frozen_at = time.monotonic()
        processes[0].freeze()
        try:
            moved = await map_where(watch, lambda m: len(m.held_by("router-b")) == P)
            moved_after = time.monotonic() - frozen_at
        finally:
            processes[0].thaw()
        thawed_at = time.monotonic()
        again = await map_where(watch, split_between("router-a", "router-b"))
        rejoined_after = time.monotonic() - thawed_at
        print(
            f"\ncluster routers: router-a frozen -> router-b owns every partition in "
            f"{moved_after * 1000:.0f} ms; thawed -> split again in {rejoined_after * 1000:.0f} ms"
        )
        b_all = moved.held_by("router-b")
        assert all(b_all[p] > epoch for p, epoch in split.held_by("router-a").items())
        assert all(epoch > b_all[p] for p, epoch in again.held_by("router-a").items()), (
            "rejoined at higher epochs"
        )
    finally:
        await observer.close()


class AppliedMaps:
    """A MapWatch in front of another that says when its consumer has taken each map (the
    edge applies a map before it asks for the next one)."""

    def __init__(self, inner: ZkOwnership) -> None:
        self._inner = inner
        self.applied: asyncio.Queue[PartitionMap] = asyncio.Queue()

    async def watch(self) -> AsyncIterator[PartitionMap]:
        async for current in self._inner.watch():
            yield current
            self.applied.put_nowait(current)


async def test_an_edge_routes_by_the_map_it_watches_in_zookeeper(
    settings: ZooKeeperSettings, processes: list[LocalServer], tmp_path: Path
) -> None:
    source = await ZkOwnership.connect(settings, P)
    maps = AppliedMaps(source)
    edge = await start_edge(
        EdgeConfig(edge_id="edge-1", partitions=P, messaging_target=f"127.0.0.1:{free_port()}"),
        map_watch=maps,
    )
    try:
        processes.append(start_router_process("router-a", settings, tmp_path))
        processes.append(start_router_process("router-b", settings, tmp_path))
        ok = split_between("router-a", "router-b")

        async def until_split() -> PartitionMap:
            while not ok(applied := await maps.applied.get()):
                pass
            return applied

        split = await asyncio.wait_for(until_split(), WAIT_S)
        assert edge.links.map == split, "the edge routes by the map ZooKeeper holds"
        assert sorted(link.target for link in edge.links.links) == sorted(split.routers().values())
    finally:
        await edge.stop()
        await source.close()


async def test_an_edge_process_registers_itself_with_its_placement_and_leaves_when_stopped(
    settings: ZooKeeperSettings, processes: list[LocalServer], tmp_path: Path
) -> None:
    log_path = tmp_path / "edge-1.log"
    env = {
        "HUBBUB_EDGE_ID": "edge-1",
        "HUBBUB_PARTITIONS": str(P),
        "HUBBUB_MESSAGING_TARGET": f"127.0.0.1:{free_port()}",
        "HUBBUB_PLACEMENT_ZONE": "eu-1a",
        "HUBBUB_PLACEMENT_CAPACITY": "5000",
        "HUBBUB_ZOOKEEPER_HOSTS": settings.hosts,
        "HUBBUB_ZOOKEEPER_ROOT": settings.root,
    }

    def announced() -> dict[str, str] | None:
        for line in log_path.read_bytes().splitlines() if log_path.exists() else []:
            if line.startswith(b'{"edge_id"'):
                return dict(json.loads(line))
        return None

    edge = start_server(
        "edge-1",
        [sys.executable, "-m", "deploy.cluster_edge"],
        log_path=log_path,
        ready=lambda: bool(announced()),
        env=env,
    )
    processes.append(edge)
    addresses = announced()
    assert addresses is not None
    registry = await ZkRegistry.connect(settings)
    try:
        watch = registry.watch(NodeKind.EDGE)
        [node] = await until(watch, lambda edges: bool(edges))
        assert (node.node_id, node.ws_url, node.grpc_target) == (
            "edge-1",
            addresses["ws_url"],
            addresses["gateway_target"],
        )
        assert (node.zone, node.capacity, node.weight, node.connections) == ("eu-1a", 5000, 1.0, 0)
        edge.stop()  # SIGTERM: a clean stop deregisters at once (no wait for the session)
        await until(watch, lambda edges: not edges)
    finally:
        await registry.close()
