"""What results.json holds beyond the workloads: the exact machine and the top-level summary
(the issue's headline figures, and the baseline ratios).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

import psutil

from bench.steps import ratio, step_at

PACKAGES = ("hubbub", "grpcio", "protobuf", "websockets", "uvloop", "orjson", "psutil")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    versions: dict[str, str] = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "packages": versions,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def summarize(workloads: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The headline figures; None where a workload did not run or did not finish."""
    w1 = workloads.get("w1", {})
    w1_json = workloads.get("w1_json", {})
    w2 = workloads.get("w2", {})
    w2_json = workloads.get("w2_json", {})
    g500 = w2.get("groups", {}).get("g500", {})
    json_g500 = w2_json.get("groups", {}).get("g500", {})
    base = workloads.get("baseline", {})
    base_1000 = step_at(base.get("steps", []), 1000.0)
    summary: dict[str, Any] = {
        "w1_capacity_msgs_per_s": w1.get("capacity_msgs_per_s"),
        "w1_json_capacity_msgs_per_s": w1_json.get("capacity_msgs_per_s"),
        "w1_p99_ms_at_1000": w1.get("p99_ms_at_1000"),
        "w1_json_p99_ms_at_1000": w1_json.get("p99_ms_at_1000"),
        "w2_capacity_deliveries_per_s": w2.get("capacity_deliveries_per_s"),
        "w2_g500_capacity_deliveries_per_s": g500.get("capacity_deliveries_per_s"),
        "w2_json_capacity_deliveries_per_s": w2_json.get("capacity_deliveries_per_s"),
        "w2_json_g500_capacity_deliveries_per_s": json_g500.get("capacity_deliveries_per_s"),
        "w3_kib_per_conn": workloads.get("w3", {}).get("kib_per_conn"),
        "w3_connections": workloads.get("w3", {}).get("connected"),
        "w3_connects_per_s": workloads.get("w3", {}).get("connects_per_s"),
        "w4_catchup_s": workloads.get("w4", {}).get("catchup_s"),
        "baseline_capacity_msgs_per_s": base.get("capacity_msgs_per_s"),
        "baseline_p99_ms_at_1000": base_1000["p99_ms"] if base_1000 else None,
        "server_cpu_us": server_cpu_figures(workloads),
    }
    summary["w1_capacity_vs_baseline"] = ratio(
        summary["w1_capacity_msgs_per_s"], summary["baseline_capacity_msgs_per_s"]
    )
    summary["w1_p99_at_1000_vs_baseline"] = ratio(
        summary["w1_p99_ms_at_1000"], summary["baseline_p99_ms_at_1000"]
    )
    return summary


def _step_cpu(steps: Sequence[Mapping[str, Any]], rate: float | None) -> dict[str, float] | None:
    step = step_at(steps, rate) if rate else None
    if step is None or "server_cpu_us_per_msg" not in step:
        return None
    return {"per_msg": step["server_cpu_us_per_msg"], "per_delivery": step["server_cpu_us_per_delivery"]}


def _per(cpu_s: Any, count: Any) -> float | None:
    return round(float(cpu_s) * 1e6 / count, 1) if cpu_s and count else None


def server_cpu_figures(workloads: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """The server's CPU µs per message and per delivery behind each summary figure: the step
    the figure comes from (W1, W2); per connection (W3) and per message caught up (W4)."""
    groups = workloads.get("w2", {}).get("groups", {})
    json_groups = workloads.get("w2_json", {}).get("groups", {})
    w3 = workloads.get("w3", {})
    w4 = workloads.get("w4", {})
    figures: dict[str, dict[str, Any] | None] = {}
    for name in ("w1", "w1_json"):
        steps = workloads.get(name, {}).get("steps", [])
        figures[f"{name}_capacity_msgs_per_s"] = _step_cpu(
            steps, workloads.get(name, {}).get("capacity_msgs_per_s")
        )
        figures[f"{name}_p99_ms_at_1000"] = _step_cpu(steps, 1000.0)
    for where, name, key in (
        (groups, "g100", "w2_capacity_deliveries_per_s"),
        (groups, "g500", "w2_g500_capacity_deliveries_per_s"),
        (json_groups, "g100", "w2_json_capacity_deliveries_per_s"),
        (json_groups, "g500", "w2_json_g500_capacity_deliveries_per_s"),
    ):
        group = where.get(name, {})
        figures[key] = _step_cpu(group.get("steps", []), group.get("capacity_sends_per_s"))
    figures["w3_kib_per_conn"] = {"per_connection": _per(w3.get("server_cpu_s"), w3.get("connected"))}
    caught_up = int(w4.get("caught_up") or 0) * int(w4.get("messages_per_conversation") or 0)
    figures["w4_catchup_s"] = {"per_delivery": _per(w4.get("server_cpu_s"), caught_up)}
    return figures
