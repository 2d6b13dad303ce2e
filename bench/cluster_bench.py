"""The local cluster a bench run measures: `hubbub cluster up`'s launcher (Redis, a 3-node
ZooKeeper ensemble, messaging, presence, routers, edges, discovery, each its own process) in a
fresh directory, with the bench's limits, and the PIDs of each role for the sampler."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from bench.connections import IDLE_HEARTBEAT_TIMEOUT_MS
from bench.discovered import discovery_url
from bench.node import BENCH_LIMITS_ENV
from deploy.cluster.config import ClusterConfig
from deploy.cluster.launcher import RunningCluster, start_cluster

ROLE_ENV = {
    # As bench/node.py does for the single node: the inbound limits lifted (the bench measures
    # throughput), idle connections kept for W3, set-up's thousands of sign-ups allowed.
    "edge": {
        **BENCH_LIMITS_ENV,
        "HUBBUB_AUTH_WAITING": "100000",
        "HUBBUB_HEARTBEAT_TIMEOUT_MS": str(IDLE_HEARTBEAT_TIMEOUT_MS),
    },
    "messaging": {
        # Cheap hashes: the bench measures chat, not argon2.
        "HUBBUB_PASSWORD_HASH_TIME_COST": "1",
        "HUBBUB_PASSWORD_HASH_MEMORY_COST": "8",
        "HUBBUB_PASSWORD_HASH_PARALLELISM": "1",
        "HUBBUB_PASSWORD_HASH_WAITING": "100000",
        "HUBBUB_SIGN_UPS_PER_ADDRESS": "1000000",
    },
}


@dataclass
class BenchCluster:
    running: RunningCluster
    companions: dict[str, list[int]] = field(default_factory=dict)
    """Servers it runs on that the launcher did not start (its Cassandra), by role."""

    @property
    def url(self) -> str:
        """What the bench's clients connect to: each asks discovery for its edge."""
        return discovery_url(self.running.discovery_target)

    def pids(self) -> dict[str, list[int]]:
        """Every process of the cluster by role (bench/cluster_sampler.py's roles)."""
        by_role: dict[str, list[int]] = {}
        for process in self.running.processes:
            by_role.setdefault(process.spec.role, []).append(process.pid)
        if self.running.redis is not None:
            by_role["redis"] = [self.running.redis.server.pid]
        if self.running.zookeeper is not None:
            by_role["zookeeper"] = [server.pid for server in self.running.zookeeper.servers]
        return {**by_role, **self.companions}

    def describe(self) -> dict[str, Any]:
        """For results.json: what ran, where."""
        return {
            "edges": len(self.running.of_role("edge")),
            "routers": len(self.running.of_role("router")),
            "partitions": self.running.config.partitions,
            "zookeeper_nodes": self.running.config.zookeeper_nodes,
            "redis": self.running.redis is not None,
            "processes": {role: len(pids) for role, pids in self.pids().items()},
        }


@contextlib.contextmanager
def bench_cluster(edges: int, routers: int, store: str = "sqlite") -> Iterator[BenchCluster]:
    """Start a cluster in a temporary directory (store "cassandra": messaging's log on a local
    Cassandra 1.2 started beside it); stop it all (and remove it) afterwards."""
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-cluster-") as tmp, contextlib.ExitStack() as stack:
        role_env = {role: dict(env) for role, env in ROLE_ENV.items()}
        companions: dict[str, list[int]] = {}
        if store == "cassandra":
            from bench.node_cassandra import messaging_env, migrated_cassandra

            options, pid = stack.enter_context(migrated_cassandra(Path(tmp)))
            role_env["messaging"].update(messaging_env(options))
            companions["cassandra"] = [pid]
        config = ClusterConfig(
            edges=edges, routers=routers, data_dir=Path(tmp) / "cluster", log_level="WARNING"
        )
        running = start_cluster(config, role_env=role_env)
        try:
            yield BenchCluster(running, companions)
        finally:
            running.stop()


def redis_commands(url: str) -> dict[str, int]:
    """Calls so far per Redis command (INFO commandstats): a workload's difference is what its
    messages cost Redis in operations, the figure a shard's ops/s divides."""
    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def commands_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Each command's calls from `before` to `after`, the busiest first (INFO's own calls left out)."""
    delta = {name: calls - before.get(name, 0) for name, calls in after.items() if name != "info"}
    return dict(sorted(((n, c) for n, c in delta.items() if c > 0), key=lambda item: -item[1]))
