"""report.md from a suite's results dict: the summary against the goals, one table per
workload with the baseline's figures and ratios beside hubbub's. Pure: dict in, text out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.steps import ratio, step_at

# figure -> (goal as written in issue 9, threshold, whether higher is better)
GOALS: dict[str, tuple[str, float, bool]] = {
    "w1_capacity_msgs_per_s": (">= 32,000 msgs/s at p99 < 100 ms, binary", 32_000, True),
    "w1_json_capacity_msgs_per_s": (">= 32,000 msgs/s at p99 < 100 ms, JSON", 32_000, True),
    "w1_p99_ms_at_1000": ("< 3 ms", 3, False),
    "w1_json_p99_ms_at_1000": ("< 3 ms", 3, False),
    "w2_capacity_deliveries_per_s": (">= 300,000 at p99 < 100 ms (g100)", 300_000, True),
    "w2_g500_capacity_deliveries_per_s": (">= 300,000 at p99 < 100 ms (g500)", 300_000, True),
    "w2_json_capacity_deliveries_per_s": (">= 300,000 at p99 < 100 ms (g100, JSON)", 300_000, True),
    "w2_json_g500_capacity_deliveries_per_s": (">= 300,000 at p99 < 100 ms (g500, JSON)", 300_000, True),
    "w3_kib_per_conn": ("<= 8 KiB at 100,000 connections", 8, False),
    "w4_catchup_s": ("<= 2.1 s (no regression)", 2.1, False),
}
W3_GOAL_CONNECTIONS = 100_000
AT_OR_UNDER = ("w3_kib_per_conn", "w4_catchup_s")  # "<=" goals; the other lower-is-better ones are "<"


def goal_met(key: str, value: float) -> bool:
    _, threshold, higher_is_better = GOALS[key]
    if higher_is_better:
        return value >= threshold
    return value <= threshold if key in AT_OR_UNDER else value < threshold


def verdict(key: str, summary: Mapping[str, Any]) -> str:
    """met / not met; W3's goal counts only at 100,000 connections."""
    value = summary.get(key)
    if value is None:
        return "—"
    met = goal_met(key, float(value))
    connections = int(summary.get("w3_connections") or 0)
    if key == "w3_kib_per_conn" and met and connections < W3_GOAL_CONNECTIONS:
        return f"met at {connections:,} connections (the goal is at 100,000)"
    return "met" if met else "not met"


def cpu_cells(cpu: Mapping[str, Any] | None) -> list[Any]:
    """Server CPU µs per message and per delivery (W3: per connection, in the message column)."""
    if not cpu:
        return [None, None]
    return [cpu.get("per_msg", cpu.get("per_connection")), cpu.get("per_delivery")]


def fmt(value: Any, digits: int | None = None) -> str:
    """Whole numbers without decimals, small ones with two, the rest with one."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if digits is not None:
            return f"{value:,.{digits}f}"
        if value == int(value):
            return f"{value:,.0f}"
        return f"{value:.2f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return [*lines, ""]


def summary_section(results: Mapping[str, Any]) -> list[str]:
    summary = results.get("summary", {})
    cpu = summary.get("server_cpu_us", {})
    rows = []
    for key, (goal, _, _) in GOALS.items():
        rows.append([key, fmt(summary.get(key)), goal, verdict(key, summary), *cpu_cells(cpu.get(key))])
    headers = ["figure", "hubbub", "goal", "verdict", "server CPU µs/msg", "server CPU µs/delivery"]
    lines = ["## Summary", "", *table(headers, rows)]
    lines += [
        "Server CPU: the server tree's CPU over the step the figure comes from (drain included) per "
        "message sent and per delivery; W3 per connection opened, W4 per message caught up. It is "
        "the figure a shared machine distorts least.",
        "",
    ]
    base = summary.get("baseline_capacity_msgs_per_s")
    if base is not None:
        client = results.get("hubbub_config", {}).get("suite", {}).get("client", "websockets")
        lines += [
            f"Bare `websockets` echo baseline, driven by the same generator (its connections on "
            f"{client}; a cheaper generator raises this ceiling too): capacity {fmt(base)} msgs/s, "
            f"p99 at 1,000/s "
            f"{fmt(summary.get('baseline_p99_ms_at_1000'), 2)} ms. hubbub/baseline: capacity "
            f"{fmt(summary.get('w1_capacity_vs_baseline'), 3)}, p99 at 1,000/s "
            f"{fmt(summary.get('w1_p99_at_1000_vs_baseline'), 3)} (latency: higher is worse).",
            "",
        ]
    return lines


def _step_cells(step: Mapping[str, Any]) -> list[Any]:
    if step.get("status") != "ok":
        return [step.get("status", "—")] + ["—"] * (len(STEP_HEADERS) - 1)
    return [
        step["delivered_per_s"], step["p50_ms"], step["p99_ms"], step["p999_ms"], step["max_ms"],
        step["lost"], step["duplicated"], step["reordered"],
        step.get("server_cpu_pct"), step.get("server_cpu_us_per_msg"), step.get("server_cpu_us_per_delivery"),
        step.get("generator_cpu_pct"), step.get("generator_cpu_us_per_delivery"),
    ]  # fmt: skip


STEP_HEADERS = [
    "delivered/s",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "max ms",
    "lost",
    "dup",
    "reord",
    "server CPU %",
    "server µs/msg",
    "server µs/delivery",
    "gen CPU %",
    "gen µs/delivery",
]


def w1_section(w1: Mapping[str, Any], baseline: Mapping[str, Any] | None, title: str = "") -> list[str]:
    lines = [
        f"## W1 one-to-one{title}",
        "",
        f"{fmt(w1.get('users'))} users in pairs, {fmt(w1.get('seconds'))} s per step. "
        f"Capacity: **{fmt(w1.get('capacity_msgs_per_s'))} msgs/s**.",
        "",
    ]
    base_steps = baseline.get("steps", []) if baseline else []
    rows = []
    for step in w1.get("steps", []):
        base = step_at(base_steps, float(step["rate"]))
        ok = step.get("status") == "ok"
        rows.append([
            step["rate"], *_step_cells(step),
            base["delivered_per_s"] if base else None, base["p99_ms"] if base else None,
            ratio(step["delivered_per_s"], base["delivered_per_s"]) if base and ok else None,
            ratio(step["p99_ms"], base["p99_ms"]) if base and ok else None,
        ])  # fmt: skip
    headers = [
        "offered/s",
        *STEP_HEADERS,
        "baseline delivered/s",
        "baseline p99 ms",
        "delivered ratio",
        "p99 ratio",
    ]
    return lines + table(headers, rows)


def w2_section(w2: Mapping[str, Any], title: str = "") -> list[str]:
    lines = [f"## W2 group fan-out{title}", ""]
    for name, group in w2.get("groups", {}).items():
        lines += [
            f"### {name}: {group['members']} members, {group['online']} online",
            "",
            f"Capacity: **{fmt(group['capacity_deliveries_per_s'])} deliveries/s** "
            f"({fmt(group['capacity_sends_per_s'])} sends/s).",
            "",
        ]
        rows = [[s["rate"], s.get("offered_deliveries_per_s"), *_step_cells(s)] for s in group["steps"]]
        lines += table(["sends/s", "offered deliveries/s", *STEP_HEADERS], rows)
    return lines


def w3_section(w3: Mapping[str, Any]) -> list[str]:
    keys = ["connections_asked", "open_file_limit", "connections", "connected", "failed", "connects_per_s",
            "server_rss_before_mib", "server_rss_after_mib", "kib_per_conn", "server_cpu_pct",
            "generator_cpu_pct"]  # fmt: skip
    return ["## W3 idle connections", "", *table(["figure", "value"], [[k, w3.get(k)] for k in keys])]


def w4_section(w4: Mapping[str, Any]) -> list[str]:
    keys = ["clients", "messages_per_conversation", "sent", "caught_up", "all_welcomed_s", "catchup_median_s",
            "catchup_s", "errors", "resume_retries", "server_cpu_pct", "generator_cpu_pct"]  # fmt: skip
    rows: list[list[Any]] = [[k, w4.get(k)] for k in keys]
    rows += [[f"error {code}", f"{n} ({w4.get('error_messages', {}).get(code, '')})"]
             for code, n in w4.get("error_codes", {}).items()]  # fmt: skip
    return ["## W4 resume storm", "", *table(["figure", "value"], rows)]


def machine_section(results: Mapping[str, Any]) -> list[str]:
    machine = results.get("machine", {})
    rows = [[k, fmt(v) if not isinstance(v, dict) else ", ".join(f"{a} {b}" for a, b in v.items())]
            for k, v in machine.items()]  # fmt: skip
    config = results.get("hubbub_config", {})
    rows += [[f"hubbub {k}", str(v)] for k, v in config.items()]
    return ["## Machine and configuration", "", *table(["", ""], rows)]


def render(results: Mapping[str, Any], plots: Sequence[str] = ()) -> str:
    workloads = results.get("workloads", {})
    lines = [f"# hubbub performance report — {results.get('started_at', '')}", ""]
    if results.get("quick"):
        lines += ["*Quick run (short steps, fewer users): indicative only.*", ""]
    for note in results.get("notes", []):
        lines += [f"> {note}", ""]
    lines += summary_section(results)
    if "w1" in workloads:
        lines += w1_section(workloads["w1"], workloads.get("baseline"))
    if "w1_json" in workloads:
        lines += w1_section(workloads["w1_json"], workloads.get("baseline"), ", JSON subprotocol")
    if "w2" in workloads:
        lines += w2_section(workloads["w2"])
    if "w2_json" in workloads:
        lines += w2_section(workloads["w2_json"], ", JSON subprotocol")
    if "w3" in workloads:
        lines += w3_section(workloads["w3"])
    if "w4" in workloads:
        lines += w4_section(workloads["w4"])
    from bench.cluster_report import cluster_section  # it builds on this module's table()

    lines += cluster_section(results)
    for name, error in results.get("errors", {}).items():
        lines += [f"**{name} failed:** `{error}`", ""]
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    lines += machine_section(results)
    return "\n".join(lines)
