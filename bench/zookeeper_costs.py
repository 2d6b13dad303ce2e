"""What ZooKeeper costs hubbub's processes, in CPU per operation (the figure contention
distorts least): a partition claim, a release as a map watcher sees it, a node's load write.
Starts its own 3-node ensemble (deploy/local_servers/zookeeper.py).

    .venv/bin/python -m bench.zookeeper_costs [--operations 500]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from deploy.local_servers.zookeeper import start_zookeeper
from discovery.model import NodeInfo, NodeKind
from discovery.zk_ownership import ZkOwnership
from discovery.zk_paths import ZooKeeperSettings
from discovery.zk_registry import ZkRegistry

PARTITIONS = 1024


def cpu_us(started: float, count: int) -> float:
    return (time.process_time() - started) / count * 1e6


async def measure(hosts: str, count: int) -> dict[str, float]:
    settings = ZooKeeperSettings(hosts=hosts, root="/bench", session_timeout_s=8, load_update_interval_s=0)
    ownership = await ZkOwnership.connect(settings, PARTITIONS)
    registry = await ZkRegistry.connect(settings)
    try:
        router = await ownership.open_session("router-1", "127.0.0.1:1")
        started = time.process_time()
        for partition in range(count):
            await router.claim(partition)
        figures = {"claim": cpu_us(started, count)}
        watch = ownership.watch()
        current = await anext(watch)
        started = time.process_time()
        for partition in range(count):
            await router.release(partition)
        while any(current.owners[:count]):
            current = await anext(watch)
        figures["release, seen by a watcher"] = cpu_us(started, count)
        await registry.register(NodeInfo("edge-1", NodeKind.EDGE, "127.0.0.1:2"))
        started = time.process_time()
        for connections in range(count):
            await registry.update("edge-1", connections=connections)
        figures["load write (no rate limit)"] = cpu_us(started, count)
        return figures
    finally:
        await registry.close()
        await ownership.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=500)
    args = parser.parse_args()
    ensemble = start_zookeeper(Path(tempfile.mkdtemp(prefix="hubbub-zk-bench-")), nodes=3)
    try:
        figures = asyncio.run(measure(ensemble.hosts, args.operations))
    finally:
        ensemble.stop()
    for name, value in figures.items():
        print(f"{name}: {value:.0f} µs CPU each ({PARTITIONS} partitions)")


if __name__ == "__main__":
    main()
