"""What results.json holds beyond the workloads: the exact machine and the top-level summary
(the issue's headline figures, and the baseline ratios).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping
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
    w2 = workloads.get("w2", {})
    base = workloads.get("baseline", {})
    base_1000 = step_at(base.get("steps", []), 1000.0)
    summary: dict[str, Any] = {
        "w1_capacity_msgs_per_s": w1.get("capacity_msgs_per_s"),
        "w1_p99_ms_at_1000": w1.get("p99_ms_at_1000"),
        "w2_capacity_deliveries_per_s": w2.get("capacity_deliveries_per_s"),
        "w3_kib_per_conn": workloads.get("w3", {}).get("kib_per_conn"),
        "w3_connects_per_s": workloads.get("w3", {}).get("connects_per_s"),
        "w4_catchup_s": workloads.get("w4", {}).get("catchup_s"),
        "baseline_capacity_msgs_per_s": base.get("capacity_msgs_per_s"),
        "baseline_p99_ms_at_1000": base_1000["p99_ms"] if base_1000 else None,
    }
    summary["w1_capacity_vs_baseline"] = ratio(
        summary["w1_capacity_msgs_per_s"], summary["baseline_capacity_msgs_per_s"]
    )
    summary["w1_p99_at_1000_vs_baseline"] = ratio(
        summary["w1_p99_ms_at_1000"], summary["baseline_p99_ms_at_1000"]
    )
    return summary
