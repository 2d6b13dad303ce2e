"""`hubbub bench w1`: one-to-one chat, 200 users in 100 direct pairs, the aggregate send rate
stepped up until saturated. Capacity = the highest step with p99 < 100 ms and nothing lost.
`--json`: the clients speak the JSON subprotocol (browsers' choice) instead of binary protobuf.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.engine_plan import Plan, pairs
from bench.loadgen import subprotocol_of
from bench.stepped import add_common_args, emit, prefix, run_plan_cli
from bench.steps import W1_RATES, capacity, step_at


def finish(result: dict[str, Any]) -> dict[str, Any]:
    steps = result["steps"]
    at_1000 = step_at(steps, 1000.0)
    result["capacity_msgs_per_s"] = capacity(steps)
    result["p99_ms_at_1000"] = at_1000["p99_ms"] if at_1000 else None
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubbub bench w1", description=__doc__)
    parser.add_argument("--users", type=int, default=200, help="users, in pairs (default 200)")
    parser.add_argument(
        "--json", action="store_true", help="clients speak the JSON subprotocol (as browsers do), not binary"
    )
    add_common_args(parser, W1_RATES, 10.0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    name = prefix()
    result = run_plan_cli(
        args,
        "w1_json" if args.json else "w1",
        lambda url: Plan(url, pairs(name, args.users), json=args.json, client=args.client),
        extra={"users": args.users, "subprotocol": subprotocol_of(args.json), "client": args.client},
    )
    emit(finish(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
