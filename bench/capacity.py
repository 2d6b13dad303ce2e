"""The capacity plan of docs/scale.md, from a `hubbub bench suite --cluster` results.json: each
role's measured CPU µs per message (W1) and per extra delivery (W2), above idle, times the
seeds' peak load, over what one process or node can take. Pure rules plus a small CLI:

    .venv/bin/python -m bench.capacity bench-results/<run>/results.json [--plot scale.png]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use("Agg"): the backend must be chosen first

PER_MESSAGE_ROLES = ("edge", "router", "messaging", "presence")
"""Roles whose work grows with messages. Discovery's grows with connects (W3), ZooKeeper's
with the nodes' load reports (one write per node per interval, whatever the traffic)."""


@dataclass(frozen=True)
class Load:
    """The seeds' peak (docs/scale.md says where each figure comes from)."""

    users: int = 10_000_000
    """Concurrent users (seeds 000 and 002)."""
    connections_per_user: float = 1.0
    """Devices online per user at peak (each is a connection)."""
    msgs_per_s: float = 700_000
    """Peak sends (seed 001: 3 x the 230,000/s average)."""
    deliveries_per_msg: float = 5.0
    """Average fan-out, 1:1 and groups mixed (seed 001)."""
    connects_per_s: float = 10_000
    """Connections opened per second: every user reconnecting once in about 17 minutes (networks
    change, apps wake), or an edge of 25,000 clients dying every few seconds."""


@dataclass(frozen=True)
class Sizing:
    """What one process or server is planned to take (assumptions, not measurements)."""

    cpu_utilisation: float = 0.6
    """A Python process is planned at 60% of its core: headroom for bursts and a failed peer."""
    edge_memory_gib: float = 2.0
    """RSS one edge process may use for its connections."""
    redis_ops_per_shard: float = 100_000
    """Commands/s one Redis shard (one core) is planned at: about half of what redis-benchmark
    shows for unpipelined simple commands on a server core."""
    store_requests_per_append: float = 7.0
    """Store requests per durable append on the Cassandra path (docs/cassandra.md)."""
    scylla_ops_per_node: float = 375_000
    """Published by ScyllaDB (2022 petabyte benchmark): 7.5 M mixed ops/s on 20 i3en.metal
    nodes at single-digit ms p99."""
    cassandra_vs_scylla: float = 3.0
    """ScyllaDB's own comparison: 2-5 x Cassandra 4.0's throughput on the same 3 nodes."""
    load_report_interval_s: float = 1.0
    """Each edge and router writes its load to ZooKeeper at most this often (deploy/cluster_edge.py)."""
    store_utilisation: float = 0.5
    """Store nodes planned at half their published throughput (compaction, repair, a lost node)."""


def _us(costs: Mapping[str, Any], workload: str, role: str) -> float:
    figures = costs.get(workload, {})
    return float(figures.get("us_above_idle", figures.get("us", {})).get(role, 0.0))


def role_cores(costs: Mapping[str, Any], load: Load) -> dict[str, float]:
    """CPU cores each role needs at peak: every message costs its W1 figure (a send and one
    delivery), every further delivery its W2 figure (one more member on a batch)."""
    extra = max(0.0, load.deliveries_per_msg - 1)
    measured = {r for w in ("w1", "w2") for k in ("us", "us_above_idle") for r in costs.get(w, {}).get(k, {})}
    roles = measured & {*PER_MESSAGE_ROLES, "redis"}
    return {
        role: round(load.msgs_per_s * (_us(costs, "w1", role) + extra * _us(costs, "w2", role)) / 1e6, 1)
        for role in sorted(roles)
    }


def plan(results: Mapping[str, Any], load: Load = Load(), sizing: Sizing = Sizing()) -> dict[str, Any]:
    cluster = results.get("cluster", {})
    costs = cluster.get("roles_us", {})
    cores = role_cores(costs, load)
    rows: dict[str, dict[str, Any]] = {}
    for role in PER_MESSAGE_ROLES:
        if role in cores:
            rows[role] = {"cores": cores[role], "count": math.ceil(cores[role] / sizing.cpu_utilisation)}
    connect_us = _us(costs, "w3", "discovery")
    discovery_cores = round(load.connects_per_s * connect_us / 1e6, 1)
    rows["discovery"] = {
        "cores": discovery_cores,
        "count": max(2, math.ceil(discovery_cores / sizing.cpu_utilisation)),
    }
    connections = load.users * load.connections_per_user
    kib = float(results.get("workloads", {}).get("w3", {}).get("kib_per_conn") or 0.0)
    if "edge" in rows and kib > 0:
        by_memory = math.ceil(connections * kib / (sizing.edge_memory_gib * 2**20))
        rows["edge"]["by_memory"] = by_memory
        rows["edge"]["count"] = max(rows["edge"]["count"], by_memory)
        rows["edge"]["connections_each"] = round(connections / rows["edge"]["count"])
    ops = cluster.get("redis_ops", {})
    extra = max(0.0, load.deliveries_per_msg - 1)
    per_msg = float(ops.get("w1", {}).get("per_unit", 0.0)) + extra * float(
        ops.get("w2", {}).get("per_unit", 0.0)
    )
    rows["redis"] = {
        "cores": cores.get("redis", 0.0),
        "ops_per_msg": round(per_msg, 2),
        "ops_per_s": round(per_msg * load.msgs_per_s),
        # By commands, and by CPU (one core a shard) where that says more.
        "count": max(
            1,
            math.ceil(per_msg * load.msgs_per_s / sizing.redis_ops_per_shard),
            math.ceil(cores.get("redis", 0.0) / sizing.cpu_utilisation),
        ),
    }
    requests = load.msgs_per_s * sizing.store_requests_per_append
    scylla = math.ceil(requests / (sizing.scylla_ops_per_node * sizing.store_utilisation))
    rows["scylladb"] = {"requests_per_s": round(requests), "count": 3 * math.ceil(scylla / 3)}
    rows["cassandra"] = {
        "requests_per_s": round(requests),
        "count": 3 * math.ceil(scylla * sizing.cassandra_vs_scylla / 3),
    }
    nodes = sum(rows[r]["count"] for r in ("edge", "router") if r in rows)
    rows["zookeeper"] = {"writes_per_s": round(nodes / sizing.load_report_interval_s), "count": 5}
    return {"load": asdict(load), "sizing": asdict(sizing), "rows": rows}


def cores_plot(path: Path, planned: Mapping[str, Any]) -> Path:
    """One bar per role: the cores it needs at the seeds' peak."""
    rows = planned["rows"]
    roles = [r for r in rows if "cores" in rows[r]]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.bar(roles, [rows[r]["cores"] for r in roles], color=[f"C{i}" for i in range(len(roles))])
    ax.set_ylabel("CPU cores at 700,000 msgs/s")
    ax.set_title("Cores per role at the seeds' peak (measured µs/msg above idle)")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument("results", type=Path, help="results.json of `hubbub bench suite --cluster`")
    parser.add_argument("--plot", type=Path, default=None, help="write the cores-per-role plot here")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    planned = plan(json.loads(args.results.read_text()))
    if args.plot is not None:
        cores_plot(args.plot, planned)
    print(json.dumps(planned, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
