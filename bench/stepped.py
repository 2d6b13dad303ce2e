"""Run a plan through increasing rates, stopping once a step is clearly saturated, with the
server's and the generator's CPU recorded beside each step. Shared by W1, W2 and the baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from bench.client_socket import CLIENTS, DEFAULT_CLIENT
from bench.engine import Engine
from bench.engine_plan import Plan
from bench.node import NodeOptions, Server, echo_server, hubbub_node
from bench.sampler import ResourceSampler
from bench.steps import cpu_per_message, is_saturated, not_reached
from deploy.config import STORES


def run_steps(
    engine: Engine,
    rates: Sequence[float],
    seconds: float,
    drain_s: float,
    sampler: ResourceSampler | None = None,
    label: str = "",
) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    saturated = False
    for rate in rates:
        if saturated:
            steps.append(not_reached(rate))
            continue
        tag = f"{label} {rate:g}/s"
        if sampler is not None:
            sampler.label = tag
        step = engine.step(rate, seconds, drain_s)
        if sampler is not None:
            sampler.label = ""
            step.update(sampler.window(tag))
            step.update(cpu_per_message(step))
        steps.append(step)
        print(_step_line(label, step), file=sys.stderr, flush=True)
        saturated = is_saturated(step)
    return steps


def _step_line(label: str, step: dict[str, Any]) -> str:
    return (
        f"{label} {step['rate']:g}/s: delivered {step['delivered_per_s']:g}/s p50 {step['p50_ms']:g} "
        f"p99 {step['p99_ms']:g} ms lost {step['lost']} unacked {step['unacked']}"
        f" server cpu {step.get('server_cpu_pct', 0):g}% ({step.get('server_cpu_us_per_msg', 0):g} µs/msg)"
        f" generator cpu {step.get('generator_cpu_pct', 0):g}%"
        f" ({step.get('generator_cpu_us_per_msg', 0):g} µs/msg,"
        f" {step.get('generator_cpu_us_per_delivery', 0):g} µs/delivery)"
    )


def add_common_args(
    parser: argparse.ArgumentParser, rates: Sequence[float], seconds: float, *, node: bool = True
) -> None:
    """The flags every stepped workload takes; `node=False` for a server that is not hubbub."""
    parser.add_argument("--url", help="WebSocket URL of a running server (default: start one)")
    parser.add_argument(
        "--rates",
        type=lambda s: [float(x) for x in s.split(",")],
        default=list(rates),
        help=f"offered rates, comma-separated (default {','.join(f'{r:g}' for r in rates)})",
    )
    parser.add_argument("--seconds", type=float, default=seconds, help=f"per step (default {seconds:g})")
    parser.add_argument(
        "--drain", type=float, default=5.0, help="max wait for stragglers per step (default 5)"
    )
    parser.add_argument("--processes", type=int, default=2, help="load generator processes (default 2)")
    add_client_arg(parser)
    if node:
        parser.add_argument(
            "--store", choices=STORES, default="sqlite", help="the started node's store (default sqlite)"
        )
        parser.add_argument(
            "--layout",
            default="",
            help="the started node's process layout (`hubbub up --processes`; default: its default)",
        )


def add_client_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--client",
        choices=CLIENTS,
        default=DEFAULT_CLIENT,
        help=f"the generator's WebSocket library (default {DEFAULT_CLIENT}, the cheaper per delivery)",
    )


def prefix() -> str:
    return f"b{secrets.token_hex(3)}"


@contextlib.contextmanager
def server_for(args: argparse.Namespace, echo: bool = False) -> Iterator[tuple[Server | None, str]]:
    """A server of our own unless --url names one: (server or None, url)."""
    if args.url:
        yield None, str(args.url)
        return
    if echo:
        with echo_server(getattr(args, "server", "websockets")) as server:
            yield server, server.url
        return
    layout = args.layout
    options = NodeOptions(store=args.store, extra_args=("--processes", layout) if layout else ())
    with hubbub_node(options) as server:
        yield server, server.url


def run_plan_cli(
    args: argparse.Namespace,
    workload: str,
    plan_for: Any,
    echo: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Start a server (or use --url), run the plan's steps, return the workload's JSON result."""
    with server_for(args, echo) as (server, url):
        plan: Plan = plan_for(url)
        sampler = ResourceSampler(server.pid) if server is not None else None
        with contextlib.ExitStack() as stack:
            if sampler is not None:
                stack.enter_context(sampler)
            with Engine(plan, args.processes, desc=workload) as engine:
                steps = run_steps(engine, args.rates, args.seconds, args.drain, sampler, workload)
    result = {"workload": workload, "processes": args.processes, "seconds": args.seconds, **(extra or {})}
    result["steps"] = steps
    return result


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)
