"""The per-role cost table's rules: which step stands for a workload, costs above idle."""

from __future__ import annotations

from typing import Any

import pytest

from bench.cluster_bench import commands_between
from bench.cluster_costs import (
    TOTAL,
    above_idle_us,
    chosen_step,
    idle_cpu_pct,
    node_costs,
    redis_ops,
    role_costs,
)
from bench.suite import main as suite_main


def step(rate: float, sent: int, *, lost: int = 0, p99_ms: float = 10.0, **extra: Any) -> dict[str, Any]:
    return {"rate": rate, "status": "ok", "sent": sent, "received": sent, "expected_deliveries": sent,
            "lost": lost, "p99_ms": p99_ms, **extra}  # fmt: skip


def test_the_busiest_clean_unsaturated_step_stands_for_the_workload() -> None:
    steps = [
        step(250, 500),
        step(1000, 2000, p99_ms=400.0),
        step(4000, 8000, lost=3),
        step(8000, 16000, p99_ms=2000.0),
    ]
    assert chosen_step(steps) == steps[1]  # slow (a shared machine) but clean and not saturated
    assert chosen_step([step(250, 500, lost=1)]) == step(250, 500, lost=1)  # nothing clean: the busiest
    assert chosen_step([{"rate": 250, "status": "not reached"}]) is None


def test_idle_cpu_is_taken_off_before_dividing_by_the_units() -> None:
    assert idle_cpu_pct({"roles_cpu_s": {"zookeeper": 0.3}, "window_s": 3.0}) == {"zookeeper": 10.0}
    # 0.5 s in 2 s, of which idle 10% = 0.2 s: 0.3 s over 1000 messages = 300 µs each.
    assert above_idle_us({"zookeeper": 0.5}, {"zookeeper": 10.0}, 2.0, 1000) == {"zookeeper": 300.0}
    assert above_idle_us({"zookeeper": 0.1}, {"zookeeper": 10.0}, 2.0, 1000) == {"zookeeper": 0.0}


def test_role_costs_per_unit_for_the_cluster_and_the_node() -> None:
    figures: dict[str, Any] = {
        "roles_cpu_s": {"edge": 0.2, "router": 0.1},
        "server_cpu_s": 0.3,
        "window_s": 1.0,
    }
    cluster: dict[str, Any] = {
        "w1": {"steps": [step(1000, 1000, **figures)]},
        "w3": {"connected": 100, **figures},
    }
    costs = role_costs(cluster, {"edge": 0.0, "router": 10.0})
    assert costs["w1"] == {
        "unit": "message",
        "at": "1000/s",
        "us": {"edge": 200.0, "router": 100.0, TOTAL: 300.0},
        "us_above_idle": {"edge": 200.0, "router": 0.0, TOTAL: 200.0},
    }
    assert costs["w3"]["us"]["edge"] == 2000.0
    node = node_costs({"w1": {"steps": [step(1000, 1000, server_cpu_s=0.05)]}})
    assert node == {"w1": {"unit": "message", "at": "1000/s", "us": {"single node": 50.0}}}


def test_redis_commands_are_counted_per_unit_of_each_workload() -> None:
    assert commands_between({"hget": 5, "info": 1}, {"hget": 9, "evalsha": 20, "info": 3}) == {
        "evalsha": 20,
        "hget": 4,
    }
    workloads: dict[str, Any] = {
        "w1": {"steps": [step(100, 100), step(200, 200)], "redis_commands": {"evalsha": 450, "hget": 150}},
        "w3": {"connected": 50, "redis_commands": {"evalsha": 100}},
    }
    assert redis_ops(workloads) == {
        "w1": {"unit": "message", "per_unit": 2.0, "commands": 600},
        "w3": {"unit": "connection", "per_unit": 2.0, "commands": 100},
    }


def test_the_suite_refuses_a_cluster_it_cannot_start() -> None:
    with pytest.raises(SystemExit):
        suite_main(["--cluster", "--edges", "0"])
    with pytest.raises(SystemExit):
        suite_main(["--cluster", "--routers", "17"])
