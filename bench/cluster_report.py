"""report.md's cluster section (role x CPU µs per unit of work, beside the single node's) and
its bar plot: pure, results dict in, text or one PNG out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use("Agg"): the backend must be chosen first

from bench.cluster_costs import TOTAL, UNITS, node_costs
from bench.cluster_sampler import ROLES, per_unit_us
from bench.report import fmt, table

PLOT = "cluster_roles.png"


def _roles(costs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    seen = {role for c in costs.values() for role in c["us"]}
    return [r for r in (*ROLES, TOTAL) if r in seen]


def _cost_table(
    costs: Mapping[str, Mapping[str, Any]],
    node: Mapping[str, Mapping[str, Any]],
    idle: Mapping[str, float],
    key: str,
) -> list[str]:
    """role x workload, CPU µs per unit (`key`: "us", or "us_above_idle"), with idle CPU %."""
    names = [n for n in UNITS if n in costs]
    headers = ["role", *(f"{n.upper()} µs/{UNITS[n]} ({costs[n]['at']})" for n in names), "idle CPU %"]
    idle_total = {**idle, TOTAL: round(sum(idle.values()), 2)}
    rows: list[list[Any]] = [
        [role, *(costs[n].get(key, {}).get(role) for n in names), idle_total.get(role)]
        for role in _roles(costs)
    ]
    if key == "us":
        rows.append(
            [
                "single node (same run)",
                *(node.get(n, {}).get("us", {}).get("single node") for n in names),
                None,
            ]
        )
    return table(headers, rows)


def _w1_steps_table(w1: Mapping[str, Any], roles: Sequence[str], title: str) -> list[str]:
    """role x W1 step: how a role's cost per message falls as the rate fills its batches."""
    steps = [s for s in w1.get("steps", []) if s.get("status") == "ok" and s.get("roles_cpu_s")]
    if not steps:
        return []
    per_msg = [per_unit_us(s["roles_cpu_s"], float(s["sent"])) for s in steps]
    shown = [r for r in roles if any(r in m for m in per_msg)]
    headers = ["role", *(f"{float(s['rate']):g}/s" for s in steps)]
    rows: list[list[Any]] = [[role, *(m.get(role) for m in per_msg)] for role in shown]
    rows.append(["p99 ms", *(s.get("p99_ms") for s in steps)])
    return [title, "", *table(headers, rows)]


def store_section(results: Mapping[str, Any]) -> list[str]:
    """`--store cassandra`: the node's and its Cassandra's CPU per W1 message, apart."""
    w1 = results.get("workloads", {}).get("w1", {})
    title = "W1 CPU µs per message by step, the node and its Cassandra apart:"
    lines = _w1_steps_table(w1, ("node", "cassandra"), title)
    return ["## Single node on Cassandra", "", *lines] if lines else []


def cluster_section(results: Mapping[str, Any]) -> list[str]:
    """The sections of the per-role costs: the node on Cassandra, the cluster."""
    lines = store_section(results)
    cluster = results.get("cluster")
    if not cluster:
        return lines
    costs = cluster.get("roles_us", {})
    node = node_costs(results.get("workloads", {}))
    idle = cluster.get("idle_cpu_pct", {})
    layout = cluster.get("layout", {})
    lines += [
        "## Cluster: CPU µs per unit of work, by role",
        "",
        f"One local cluster ({fmt(layout.get('edges'))} edges, {fmt(layout.get('routers'))} routers, "
        f"{fmt(layout.get('zookeeper_nodes'))} ZooKeeper nodes, Redis: {fmt(layout.get('redis'))}) on this "
        "machine, clients sent to their edge by discovery. Each role's processes' CPU seconds over the "
        "step (drain included) over the step's units: on a shared machine the figure contention "
        "distorts least. Idle CPU % is each role's with no clients (100 = one core); docs/scale.md "
        "plans from the figures above idle.",
        "",
    ]
    if costs:
        lines += ["Raw:", "", *_cost_table(costs, node, idle, "us")]
        lines += ["Above idle (each role's idle CPU over the same window taken off):", ""]
        lines += _cost_table(costs, node, idle, "us_above_idle")
    ops = cluster.get("redis_ops", {})
    if ops:
        lines += ["Redis commands per unit of work (set-up included; INFO commandstats):", ""]
        lines += table(
            ["workload", "commands", "per unit"],
            [[f"{n.upper()} per {o['unit']}", o["commands"], o["per_unit"]] for n, o in ops.items()],
        )
    workloads = cluster.get("workloads", {})
    w1 = workloads.get("w1", {})
    if w1:
        lines += _w1_steps_table(w1, ROLES, "W1 CPU µs per message by step (raw):")
        lines += [
            f"Cluster W1 capacity: **{fmt(w1.get('capacity_msgs_per_s'))} msgs/s** "
            f"(p99 at 1,000/s: {fmt(w1.get('p99_ms_at_1000'))} ms).",
            "",
        ]
    w3 = workloads.get("w3", {})
    if w3:
        lines += [f"Cluster W3: {fmt(w3.get('kib_per_conn'))} KiB per connection (whole cluster's RSS).", ""]
    for name, error in cluster.get("errors", {}).items():
        lines += [f"**cluster {name} failed:** `{error}`", ""]
    return lines


def cluster_plot(out: Path, results: Mapping[str, Any]) -> list[str]:
    """Stacked bars: each workload's CPU µs per unit, split by role (log-free: the split is
    what it shows). [] when the cluster did not run."""
    costs = results.get("cluster", {}).get("roles_us", {})
    if not costs:
        return []
    names = list(costs)
    fig, ax = plt.subplots(figsize=(8, 5))
    bottoms = [0.0] * len(names)
    for index, role in enumerate(ROLES):
        values = [float(costs[n].get("us_above_idle", costs[n]["us"]).get(role, 0.0)) for n in names]
        if not any(values):
            continue
        ax.bar(names, values, bottom=bottoms, color=f"C{index}", label=role)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    ax.set_xticks(range(len(names)), [f"{n.upper()}\nper {costs[n]['unit']}" for n in names])
    ax.set_ylabel("CPU µs per unit, above idle")
    ax.set_title("Cluster: CPU per unit of work, by role")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out / PLOT, dpi=100)
    plt.close(fig)
    return [PLOT]
