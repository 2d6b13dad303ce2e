"""`hubbub bench baseline`: a bare `websockets` echo server in its own process, driven by the
same generator at the same offered rates as W1 (each echoed frame is its own delivery): the
ceiling a Python WebSocket edge cannot pass, for the report's ratios. `--server picows`: the
same echo on picows, to weigh the WebSocket layer.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.engine_plan import Plan, echoes
from bench.node import ECHO_SERVERS
from bench.stepped import add_common_args, emit, prefix, run_plan_cli
from bench.steps import W1_RATES, capacity


def finish(result: dict[str, Any]) -> dict[str, Any]:
    result["capacity_msgs_per_s"] = capacity(result["steps"])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubbub bench baseline", description=__doc__)
    parser.add_argument("--users", type=int, default=200, help="connections (default 200)")
    add_common_args(parser, W1_RATES, 10.0, node=False)
    parser.add_argument(
        "--server",
        choices=sorted(ECHO_SERVERS),
        default="websockets",
        help="the echo server's WebSocket library (default websockets, the edge's)",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    name = prefix()
    result = run_plan_cli(
        args,
        "baseline",
        lambda url: Plan(url, echoes(name, args.users), echo=True, client=args.client),
        echo=True,
        extra={"users": args.users, "server": args.server, "client": args.client},
    )
    emit(finish(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
