"""CPU cost of the Redis backends per unit of work, on a Redis started for the run: presence
report changes, directory lookups (the fan-out path) and registrations. Reports CPU µs of this
process and of the Redis server(s) per unit, which contention on a shared machine distorts
least. Run: `.venv/bin/python -m bench.redis_cost [--cluster]`."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from deploy.local_servers.redis import start_redis, start_redis_cluster
from kernel.clock import SystemClock
from kernel.redis_keys import DirectoryKeys, PresenceKeys
from presence.model import EdgeReport, SessionChange
from presence.redis_backend import RedisPresence
from router.redis_directory import RedisDirectory

USERS = 10_000
BATCH = 100
LOOKUP_USERS = 500
ROUNDS = 40


def server_cpu_s(ports: list[int]) -> float:
    total = 0.0
    for port in ports:
        info = subprocess.run(
            ["redis-cli", "-p", str(port), "info", "cpu"], capture_output=True, text=True, check=True
        ).stdout
        for line in info.splitlines():
            if line.startswith(("used_cpu_sys:", "used_cpu_user:")):
                total += float(line.split(":")[1])
    return total


async def measure(name: str, units: int, ports: list[int], work: Callable[[], Awaitable[None]]) -> None:
    server_before, client_before, wall_before = server_cpu_s(ports), time.process_time(), time.monotonic()
    await work()
    client = (time.process_time() - client_before) / units * 1e6
    server = (server_cpu_s(ports) - server_before) / units * 1e6
    wall = (time.monotonic() - wall_before) / units * 1e6
    print(f"{name:<40} client {client:7.1f} µs  redis {server:7.1f} µs  wall {wall:7.1f} µs per unit")


async def run(url: str, cluster: bool, ports: list[int]) -> None:
    presence = RedisPresence.connect(url, SystemClock(), cluster=cluster, keys=PresenceKeys("bench"))
    directory = RedisDirectory.connect(url, cluster=cluster, keys=DirectoryKeys("bench"))
    users = [f"u{i}" for i in range(USERS)]
    try:

        async def report_opens() -> None:
            for start in range(0, USERS, BATCH):
                changes = tuple(
                    SessionChange(u, "d1", i, True) for i, u in enumerate(users[start : start + BATCH])
                )
                await presence.report(EdgeReport(f"e{start // 1000}", 30_000, changes))

        async def restate() -> None:
            for edge in range(USERS // 1000):
                part = users[edge * 1000 : (edge + 1) * 1000]
                await directory.restate_edge(f"e{edge}", [(u, i, "d1") for i, u in enumerate(part)], 30_000)

        async def lookups() -> None:
            for round_ in range(ROUNDS):
                start = (round_ * LOOKUP_USERS) % USERS
                await directory.lookup(users[start : start + LOOKUP_USERS])

        await measure("presence: session opened (batches of 100)", USERS, ports, report_opens)
        await measure("directory: session restated (1000/edge)", USERS, ports, restate)
        await measure("directory: user looked up (500/lookup)", ROUNDS * LOOKUP_USERS, ports, lookups)
    finally:
        await presence.close()
        await directory.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cluster", action="store_true", help="a 3-master Redis Cluster")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        if args.cluster:
            nodes = start_redis_cluster(Path(work))
            try:
                asyncio.run(run(nodes.url, True, [n.port for n in nodes.nodes]))
            finally:
                nodes.stop()
        else:
            node = start_redis(Path(work))
            try:
                asyncio.run(run(node.url, False, [node.port]))
            finally:
                node.stop()


if __name__ == "__main__":
    main()
