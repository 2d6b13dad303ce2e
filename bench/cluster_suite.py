"""`hubbub bench suite --cluster`: W1-W4 against one local cluster started for the run
(bench/cluster_bench.py), clients spread over its edges by discovery, every process sampled
by role, so each step says what an edge, a router, Redis and ZooKeeper cost per message."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bench import connections, resume, w1
from bench.cluster_bench import BenchCluster, bench_cluster, commands_between, redis_commands
from bench.cluster_costs import idle_cpu_pct, redis_ops, role_costs
from bench.cluster_sampler import ClusterSampler, per_unit_us
from bench.engine import Engine
from bench.engine_plan import Plan, pairs
from bench.group import run_groups
from bench.stepped import prefix, run_steps

if TYPE_CHECKING:
    from bench.suite import SuiteConfig

IDLE_S = 3.0
"""How long the idle CPU of each role is sampled before the workloads."""

ClusterRunner = Callable[["SuiteConfig", str, ClusterSampler], dict[str, Any]]


def _per_message(steps: list[dict[str, Any]]) -> None:
    """Each step's CPU µs per role, per message sent and per delivery."""
    for step in steps:
        if step.get("status") == "ok":
            step["roles_us_per_msg"] = per_unit_us(step.get("roles_cpu_s", {}), float(step["sent"]))
            step["roles_us_per_delivery"] = per_unit_us(step.get("roles_cpu_s", {}), float(step["received"]))


def run_w1(config: SuiteConfig, url: str, sampler: ClusterSampler) -> dict[str, Any]:
    plan = Plan(url, pairs(prefix(), config.w1_users), client=config.client)
    with Engine(plan, config.processes, desc="cluster w1") as engine:
        steps = run_steps(engine, config.w1_rates, config.w1_seconds, config.drain_s, sampler, "w1")
    _per_message(steps)
    result = {"workload": "w1", "users": config.w1_users, "seconds": config.w1_seconds, "steps": steps}
    return w1.finish(result)


def run_w2(config: SuiteConfig, url: str, sampler: ClusterSampler) -> dict[str, Any]:
    result = run_groups(
        url, config.w2_groups, list(config.w2_rates), config.w2_seconds, config.drain_s, config.processes,
        sampler, client=config.client,
    )  # fmt: skip
    for group in result["groups"].values():
        _per_message(group["steps"])
    return result


def run_w3(config: SuiteConfig, url: str, sampler: ClusterSampler) -> dict[str, Any]:
    result = connections.run(config.w3_connections, 100, config.processes, 100, sampler, url)
    result["roles_us_per_connection"] = per_unit_us(result["roles_cpu_s"], float(result["connected"]))
    return result


def run_w4(config: SuiteConfig, url: str, sampler: ClusterSampler) -> dict[str, Any]:
    result = resume.run(config.w4_clients // 2, config.w4_messages, config.processes, sampler, url)
    result["roles_us_per_client"] = per_unit_us(result["roles_cpu_s"], float(result["clients"]))
    return result


CLUSTER_RUNNERS: dict[str, ClusterRunner] = {"w1": run_w1, "w2": run_w2, "w3": run_w3, "w4": run_w4}
"""The baseline is no hubbub: it runs once, against the single node's figures."""


def run_cluster(
    config: SuiteConfig, edges: int, routers: int, t0: float, samples: list[dict[str, Any]]
) -> dict[str, Any]:
    """Every selected workload on one cluster (started once: a cluster takes a minute to
    start on a loaded machine); -> results.json's "cluster" section."""
    result: dict[str, Any] = {"workloads": {}, "errors": {}}
    names = [name for name in config.workloads if name in CLUSTER_RUNNERS]
    try:
        with bench_cluster(edges, routers, config.store) as cluster:
            result["layout"] = cluster.describe()
            sampler = ClusterSampler(cluster.pids(), start=t0, sink=samples)
            with sampler:
                result["idle_cpu_pct"] = _idle(sampler)
                for name in names:
                    _run_one(config, cluster, sampler, name, result)
    except Exception as exc:  # noqa: BLE001 - the single node's figures must survive a cluster that fails
        traceback.print_exc(file=sys.stderr)
        result["errors"]["cluster"] = f"{type(exc).__name__}: {exc}"
    result["roles_us"] = role_costs(result["workloads"], result.get("idle_cpu_pct", {}))
    result["redis_ops"] = redis_ops(result["workloads"])
    return result


def _idle(sampler: ClusterSampler) -> dict[str, float]:
    """Each role's CPU with no clients: ZooKeeper's ticks, heartbeats, lease checks."""
    sampler.label = "cluster idle"
    time.sleep(IDLE_S)  # a measurement window, not a wait for an event
    sampler.label = ""
    return idle_cpu_pct(sampler.window("cluster idle"))


def _run_one(
    config: SuiteConfig, cluster: BenchCluster, sampler: ClusterSampler, name: str, result: dict[str, Any]
) -> None:
    redis = cluster.running.redis
    before = redis_commands(redis.url) if redis is not None else {}
    try:
        result["workloads"][name] = figures = CLUSTER_RUNNERS[name](config, cluster.url, sampler)
        if redis is not None:
            figures["redis_commands"] = commands_between(before, redis_commands(redis.url))
    except Exception as exc:  # noqa: BLE001 - one failed workload must not lose the others' figures
        traceback.print_exc(file=sys.stderr)
        result["errors"][name] = f"{type(exc).__name__}: {exc}"
