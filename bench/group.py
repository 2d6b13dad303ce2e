"""`hubbub bench group`: group fan-out. One group of 100 members all online, then one of 500
with 100 online; every online member sends in turn at a stepped group send rate. Capacity =
the highest step's deliveries/s with p99 < 100 ms and nothing lost. `--json`: the clients
speak the JSON subprotocol (browsers' choice) instead of binary protobuf.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from bench.client_socket import DEFAULT_CLIENT
from bench.engine import Engine
from bench.engine_plan import Plan, group
from bench.loadgen import subprotocol_of
from bench.sampler import ResourceSampler
from bench.stepped import add_common_args, emit, prefix, run_steps, server_for
from bench.steps import W2_RATES, capacity

GROUPS = (("g100", 100, 100), ("g500", 500, 100))  # (name, members, online)


def offered_deliveries(steps: list[dict[str, Any]], online: int) -> None:
    for step in steps:
        step["offered_deliveries_per_s"] = step["rate"] * (online - 1)


def run_groups(
    url: str,
    groups: tuple[tuple[str, int, int], ...],
    rates: list[float],
    seconds: float,
    drain_s: float,
    processes: int,
    sampler: ResourceSampler | None,
    json: bool = False,
    client: str = DEFAULT_CLIENT,
) -> dict[str, Any]:
    workload = "w2_json" if json else "w2"
    result: dict[str, Any] = {
        "workload": workload,
        "processes": processes,
        "seconds": seconds,
        "subprotocol": subprotocol_of(json),
        "client": client,
        "groups": {},
    }
    for name, members, online in groups:
        plan = Plan(url, (group(f"{prefix()}{name}", members, online),), json=json, client=client)
        with Engine(plan, processes, desc=f"{workload} {name}") as engine:
            steps = run_steps(engine, rates, seconds, drain_s, sampler, f"{workload} {name}")
        offered_deliveries(steps, online)
        result["groups"][name] = {
            "members": members,
            "online": online,
            "steps": steps,
            "capacity_deliveries_per_s": capacity(steps, key="offered_deliveries_per_s"),
            "capacity_sends_per_s": capacity(steps),
        }
    first = next(iter(result["groups"].values()), None)
    result["capacity_deliveries_per_s"] = first["capacity_deliveries_per_s"] if first else 0.0
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubbub bench group", description=__doc__)
    parser.add_argument("--members", type=int, default=0, help="one group of this size instead of both")
    parser.add_argument("--online", type=int, default=0, help="with --members: how many are online")
    parser.add_argument(
        "--json", action="store_true", help="clients speak the JSON subprotocol (as browsers do), not binary"
    )
    add_common_args(parser, W2_RATES, 10.0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    groups: tuple[tuple[str, int, int], ...] = GROUPS
    if args.members:
        groups = ((f"g{args.members}", args.members, args.online or min(args.members, 100)),)
    with server_for(args) as (server, url), contextlib.ExitStack() as stack:
        sampler = stack.enter_context(ResourceSampler(server.pid)) if server is not None else None
        result = run_groups(
            url, groups, args.rates, args.seconds, args.drain, args.processes, sampler, args.json, args.client
        )
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
