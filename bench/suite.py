"""`hubbub bench suite`: every workload (W1 and W2 over binary and over JSON, W3, W4) and the
echo baseline in one run, each against a fresh server process of its own, then
bench-results/<timestamp>/ with results.json, report.md and plots. --quick: short steps and
fewer users (about two minutes), for CI and smoke tests.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench import baseline, connections, resume, w1
from bench.client_socket import DEFAULT_CLIENT
from bench.cluster_report import cluster_plot
from bench.cluster_sampler import ClusterSampler
from bench.cluster_suite import run_cluster
from bench.engine import Engine
from bench.engine_plan import Plan, echoes, pairs
from bench.group import GROUPS, run_groups
from bench.loadgen import subprotocol_of
from bench.node import NodeOptions, Server, echo_server, hubbub_node
from bench.plots import suite_plots
from bench.profiler import flame_graph
from bench.report import render
from bench.results import machine_info, summarize
from bench.sampler import ResourceSampler
from bench.stepped import add_client_arg, emit, prefix, run_steps
from bench.steps import W1_QUICK_RATES, W1_RATES, W2_QUICK_RATES, W2_RATES
from deploy.cluster.config import MAX_PROCESSES


@dataclass(frozen=True)
class SuiteConfig:
    quick: bool = False
    processes: int = 2
    client: str = DEFAULT_CLIENT  # the generator's WebSocket library (bench/client_socket.py)
    store: str = "sqlite"
    w1_users: int = 200
    w1_rates: tuple[float, ...] = tuple(float(r) for r in W1_RATES)
    w1_seconds: float = 10.0
    w2_groups: tuple[tuple[str, int, int], ...] = GROUPS
    w2_rates: tuple[float, ...] = tuple(float(r) for r in W2_RATES)
    w2_seconds: float = 5.0
    baseline_seconds: float = 5.0
    drain_s: float = 5.0
    w3_connections: int = 100_000  # issue 9's goal is per connection at 100,000
    w4_clients: int = 2000
    w4_messages: int = 50
    workloads: tuple[str, ...] = field(default=("w1", "w1_json", "baseline", "w2", "w2_json", "w3", "w4"))
    profile_dir: str | None = None  # py-spy flame graphs of the server, one per workload
    cluster: tuple[int, int] | None = None  # (edges, routers): also run W1-W4 on a local cluster

    @classmethod
    def quick_config(cls, **overrides: Any) -> SuiteConfig:
        quick = cls(
            quick=True,
            w1_users=40,
            w1_rates=tuple(float(r) for r in W1_QUICK_RATES),
            w1_seconds=2.0,
            w2_groups=(("g100", 100, 100),),
            w2_rates=tuple(float(r) for r in W2_QUICK_RATES),
            w2_seconds=2.0,
            baseline_seconds=2.0,
            drain_s=3.0,
            w3_connections=1000,
            w4_clients=200,
        )
        return SuiteConfig(**{**asdict(quick), **overrides})


Runner = Callable[[SuiteConfig, float, list[dict[str, Any]]], dict[str, Any]]


@contextlib.contextmanager
def _sampled(
    config: SuiteConfig, name: str, server: Server, t0: float, samples: list[dict[str, Any]]
) -> Iterator[ResourceSampler]:
    """Sample the server's tree into the suite's timeline (and profile it, if asked)."""
    svg = Path(config.profile_dir) / f"{name}.svg" if config.profile_dir else None
    with _sampler(server, t0, samples) as sampler, flame_graph(server.pid, svg):
        yield sampler


def _sampler(server: Server, t0: float, samples: list[dict[str, Any]]) -> ResourceSampler:
    """The node's tree; with companions (its Cassandra) those too, each as a role of its own."""
    if not server.companions:
        return ResourceSampler(server.pid, start=t0, sink=samples)
    return ClusterSampler({"node": [server.pid], **server.companions}, start=t0, sink=samples)


def run_w1(
    config: SuiteConfig, t0: float, samples: list[dict[str, Any]], json: bool = False
) -> dict[str, Any]:
    name = "w1_json" if json else "w1"
    with (
        hubbub_node(NodeOptions(store=config.store)) as server,
        _sampled(config, name, server, t0, samples) as sampler,
    ):
        plan = Plan(server.url, pairs(prefix(), config.w1_users), json=json, client=config.client)
        with Engine(plan, config.processes, desc=name) as engine:
            steps = run_steps(engine, config.w1_rates, config.w1_seconds, config.drain_s, sampler, name)
    result = {"workload": name, "users": config.w1_users, "seconds": config.w1_seconds, "steps": steps}
    return w1.finish({**result, "subprotocol": subprotocol_of(json), "client": config.client})


def run_baseline(config: SuiteConfig, t0: float, samples: list[dict[str, Any]]) -> dict[str, Any]:
    name = "baseline"
    with echo_server() as server, _sampled(config, name, server, t0, samples) as sampler:
        plan = Plan(server.url, echoes(prefix(), config.w1_users), echo=True, client=config.client)
        with Engine(plan, config.processes, desc="baseline") as engine:
            steps = run_steps(
                engine, config.w1_rates, config.baseline_seconds, config.drain_s, sampler, "baseline"
            )
    result = {
        "workload": "baseline",
        "client": config.client,
        "users": config.w1_users,
        "seconds": config.baseline_seconds,
        "steps": steps,
    }
    return baseline.finish(result)


def run_w2(
    config: SuiteConfig, t0: float, samples: list[dict[str, Any]], json: bool = False
) -> dict[str, Any]:
    name = "w2_json" if json else "w2"
    with (
        hubbub_node(NodeOptions(store=config.store)) as server,
        _sampled(config, name, server, t0, samples) as sampler,
    ):
        return run_groups(
            server.url, config.w2_groups, list(config.w2_rates), config.w2_seconds, config.drain_s,
            config.processes, sampler, json, config.client,
        )  # fmt: skip


def run_w3(config: SuiteConfig, t0: float, samples: list[dict[str, Any]]) -> dict[str, Any]:
    name = "w3"
    options = NodeOptions(store=config.store, heartbeat_timeout_ms=connections.IDLE_HEARTBEAT_TIMEOUT_MS)
    with hubbub_node(options) as server, _sampled(config, name, server, t0, samples) as sampler:
        return connections.run(config.w3_connections, 100, config.processes, 100, sampler, server.url)


def run_w4(config: SuiteConfig, t0: float, samples: list[dict[str, Any]]) -> dict[str, Any]:
    name = "w4"
    with (
        hubbub_node(NodeOptions(store=config.store)) as server,
        _sampled(config, name, server, t0, samples) as sampler,
    ):
        return resume.run(config.w4_clients // 2, config.w4_messages, config.processes, sampler, server.url)


RUNNERS: dict[str, Runner] = {
    "w1": run_w1,
    "w1_json": functools.partial(run_w1, json=True),
    "baseline": run_baseline,
    "w2": run_w2,
    "w2_json": functools.partial(run_w2, json=True),
    "w3": run_w3,
    "w4": run_w4,
}


def _run_cluster(
    config: SuiteConfig, t0: float, samples: list[dict[str, Any]], results: dict[str, Any]
) -> None:
    """--cluster: the same workloads on a local cluster, into results["cluster"]."""
    if config.cluster is None:
        return
    edges, routers = config.cluster
    results["cluster"] = run_cluster(config, edges, routers, t0, samples)
    for name, error in results["cluster"]["errors"].items():
        results["errors"][f"cluster {name}"] = error


def run_suite(config: SuiteConfig, out: Path, notes: list[str], profile: bool = False) -> Path:
    started = datetime.now(UTC)
    directory = out / started.strftime("%Y%m%d-%H%M%S")
    directory.mkdir(parents=True, exist_ok=True)
    if profile:
        config = replace(config, profile_dir=str(directory))
    t0 = time.monotonic()
    samples: list[dict[str, Any]] = []
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "quick": config.quick,
        "notes": notes,
        "machine": machine_info(),
        "hubbub_config": {**NodeOptions(store=config.store).as_dict(), "suite": asdict(config)},
        "workloads": {},
        "errors": {},
    }
    with tqdm(config.workloads, desc="suite", unit="workload") as bar:
        for name in bar:
            bar.set_postfix_str(name)
            try:
                results["workloads"][name] = RUNNERS[name](config, t0, samples)
            except Exception as exc:  # noqa: BLE001 - one failed workload must not lose the others' figures
                traceback.print_exc(file=sys.stderr)
                results["errors"][name] = f"{type(exc).__name__}: {exc}"
    _run_cluster(config, t0, samples, results)
    results["duration_s"] = round(time.monotonic() - t0, 1)
    results["resources"] = samples
    results["summary"] = summarize(results["workloads"])
    plots = suite_plots(directory, results) + cluster_plot(directory, results)
    plots += sorted(p.name for p in directory.glob("*.svg"))
    (directory / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (directory / "report.md").write_text(render(results, plots))
    return directory


def add_cluster_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="also run W1-W4 on a local cluster (`hubbub cluster up`'s processes) and report "
        "each role's CPU µs per message beside the single node's",
    )
    parser.add_argument("--edges", type=int, default=2, help="with --cluster: edge processes (default 2)")
    parser.add_argument("--routers", type=int, default=2, help="with --cluster: router processes (default 2)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubbub bench suite", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short steps, fewer users (about 2 minutes)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="where results go")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes (default 2)")
    parser.add_argument(
        "--store",
        choices=["sqlite", "memory", "cassandra"],
        default="sqlite",
        help="node's store (cassandra: its log on a local Cassandra 1.2 started beside each node)",
    )
    parser.add_argument("--only", help="comma-separated subset of w1,w1_json,baseline,w2,w2_json,w3,w4")
    add_client_arg(parser)
    parser.add_argument("--note", action="append", default=[], help="a line for the report (repeatable)")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy flame graph of the server per workload"
    )
    add_cluster_args(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    overrides: dict[str, Any] = {"processes": args.processes, "store": args.store, "client": args.client}
    if args.cluster:
        for flag in ("edges", "routers"):
            if not 1 <= getattr(args, flag) <= MAX_PROCESSES:
                parser.error(f"--{flag} must be in 1..{MAX_PROCESSES}")
        overrides["cluster"] = (args.edges, args.routers)
    if args.only:
        unknown = set(args.only.split(",")) - RUNNERS.keys()
        if unknown:
            parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
        overrides["workloads"] = tuple(args.only.split(","))
    config = SuiteConfig.quick_config(**overrides) if args.quick else SuiteConfig(**overrides)
    directory = run_suite(config, args.out, args.note, args.profile)
    results = json.loads((directory / "results.json").read_text())
    emit({"directory": str(directory), "summary": results["summary"], "errors": results["errors"]})
    return 0 if not results["errors"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
