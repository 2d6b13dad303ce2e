"""`hubbub bench layouts`: W1 steps on each process layout (`hubbub up --processes`), a fresh
node per layout, with the server's CPU µs per message beside p50/p99: what chose the default
(docs/performance.md, "Fewer hops"). On a shared machine compare the CPU figures; contention
stretches wall-clock latency far more than the CPU a message costs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.engine import Engine
from bench.engine_plan import Plan, pairs
from bench.node import NodeOptions, hubbub_node
from bench.sampler import ResourceSampler
from bench.stepped import emit, prefix, run_steps
from deploy.config import STORES

# Every layout the default was chosen among: all in one process; the edge alone in a child
# (the default); the old default (router and messaging apart: gRPC between them); presence
# apart; every service in children.
LAYOUTS = ("one", "edge", "edge/messaging", "edge/presence", "edge/messaging+presence+router")
RATES = (1000.0, 4000.0)


def run_layout(layout: str, args: argparse.Namespace) -> dict[str, Any]:
    options = NodeOptions(store=args.store, extra_args=("--processes", layout))
    with hubbub_node(options) as server, ResourceSampler(server.pid) as sampler:
        plan = Plan(server.url, pairs(prefix(), args.users))
        with Engine(plan, args.processes, desc=layout) as engine:
            steps = run_steps(engine, args.rates, args.seconds, args.drain, sampler, layout)
    return {"layout": layout, "steps": steps}


def table(results: list[dict[str, Any]]) -> str:
    """A markdown table: one row per layout and rate."""
    lines = [
        "| layout | offered/s | p50 ms | p99 ms | server CPU % | server CPU µs/msg | lost |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for step in result["steps"]:
            if step.get("status") != "ok":
                lines.append(f"| `{result['layout']}` | {step['rate']:g} | {step.get('status')} | | | | |")
                continue
            lines.append(
                f"| `{result['layout']}` | {step['rate']:g} | {step['p50_ms']:.1f} | {step['p99_ms']:.1f} "
                f"| {step['server_cpu_pct']:g} | {step['server_cpu_us_per_msg']:.0f} | {step['lost']} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubbub bench layouts", description=__doc__)
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="comma-separated (default: all five)")
    parser.add_argument(
        "--rates",
        type=lambda s: [float(x) for x in s.split(",")],
        default=list(RATES),
        help="offered rates per layout (default 1000,4000)",
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="per step (default 8)")
    parser.add_argument("--drain", type=float, default=5.0, help="max wait for stragglers (default 5 s)")
    parser.add_argument("--users", type=int, default=200, help="users, in pairs (default 200)")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes (default 2)")
    parser.add_argument("--store", choices=STORES, default="sqlite", help="the nodes' store (default sqlite)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    results = [run_layout(layout, args) for layout in args.layouts.split(",") if layout]
    print(table(results), file=sys.stderr, flush=True)
    emit({"workload": "layouts", "processes": args.processes, "seconds": args.seconds, "layouts": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
