"""The suite's PNG plots (matplotlib, Agg: no display): latency percentiles against offered
rate for W1 and W2, and the server's CPU and RSS (with the generator's CPU) over the whole run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use("Agg"): the backend must be chosen first

PERCENTILES = (("p50_ms", "p50", "-"), ("p99_ms", "p99", "--"), ("p999_ms", "p99.9", ":"))


def latency_plot(
    path: Path, title: str, series: Mapping[str, Sequence[Mapping[str, Any]]], x_key: str, x_label: str
) -> Path:
    """One line per (series, percentile) over the steps that ran; log-scaled latency."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for index, (name, steps) in enumerate(series.items()):
        ran = [s for s in steps if s.get("status") == "ok"]
        if not ran:
            continue
        xs = [float(s[x_key]) for s in ran]
        for key, label, style in PERCENTILES:
            ys = [max(float(s[key]), 0.01) for s in ran]
            ax.plot(xs, ys, style, marker="o", color=f"C{index}", label=f"{name} {label}")
    ax.axhline(100, color="grey", linewidth=0.8, linestyle="-.", label="100 ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(x_label)
    ax.set_ylabel("delivery latency (ms)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def resources_plot(path: Path, samples: Sequence[Mapping[str, Any]]) -> Path:
    """Server and generator CPU (100% = one core) and server RSS over time, phases marked."""
    fig, (cpu, rss) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    ts = [float(s["t_s"]) for s in samples]
    cpu.plot(ts, [s["server_cpu_pct"] for s in samples], label="server CPU %", linewidth=0.8)
    cpu.plot(ts, [s["generator_cpu_pct"] for s in samples], label="generator CPU %", linewidth=0.8)
    cpu.set_ylabel("CPU % (100 = 1 core)")
    cpu.legend(fontsize="small", loc="upper right")
    rss.plot(ts, [s["server_rss_mib"] for s in samples], color="C2", linewidth=0.8)
    rss.set_ylabel("server RSS (MiB)")
    rss.set_xlabel("time since the suite started (s)")
    last = None
    for sample in samples:
        phase = str(sample.get("label", "")).split(" ")[0]
        if phase and phase != last:
            for ax in (cpu, rss):
                ax.axvline(float(sample["t_s"]), color="grey", linewidth=0.5, alpha=0.5)
            cpu.annotate(
                phase, (float(sample["t_s"]), 1), xycoords=("data", "axes fraction"), fontsize=7, va="top"
            )
        last = phase or last
    for ax in (cpu, rss):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def suite_plots(out: Path, results: Mapping[str, Any]) -> list[str]:
    """Every plot the results allow; returns their file names (relative to `out`)."""
    workloads = results.get("workloads", {})
    names: list[str] = []
    w1_series = {
        name: workloads[key]["steps"]
        for key, name in (("w1", "hubbub W1"), ("w1_json", "hubbub W1 JSON"), ("baseline", "echo baseline"))
        if key in workloads
    }  # fmt: skip
    if w1_series:
        latency_plot(
            out / "w1_latency.png",
            "W1 one-to-one: latency vs offered rate",
            w1_series,
            "rate",
            "offered msgs/s",
        )
        names.append("w1_latency.png")
    series = {
        f"{name}{suffix}": group["steps"]
        for key, suffix in (("w2", ""), ("w2_json", " JSON"))
        for name, group in workloads.get(key, {}).get("groups", {}).items()
    }
    if series:
        title = "W2 group fan-out: latency vs offered deliveries"
        latency_plot(
            out / "w2_latency.png", title, series, "offered_deliveries_per_s", "offered deliveries/s"
        )
        names.append("w2_latency.png")
    if results.get("resources"):
        resources_plot(out / "resources.png", results["resources"])
        names.append("resources.png")
    return names
