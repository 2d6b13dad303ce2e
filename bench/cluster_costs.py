"""Pure rules of the per-role cost table: which step of each workload stands for it and what
each role's CPU µs per unit of work was there (W1 per message sent, W2 per delivery, W3 per
connection opened, W4 per client resumed), for the cluster's roles and the single node alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.steps import is_saturated

UNITS = {"w1": "message", "w2": "delivery", "w3": "connection", "w4": "resumed client"}
TOTAL = "cluster total"


def chosen_step(steps: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The busiest step that lost nothing and was not saturated (else the busiest that ran):
    a role's fixed cost (timers, heartbeats, a JVM's ticks) is spread over more messages as the
    rate rises, so a quiet step overstates what a message costs. Latency is left out on
    purpose: on a shared machine it measures the neighbours."""
    ran = [s for s in steps if s.get("status") == "ok" and int(s.get("sent", 0)) > 0]
    clean = [s for s in ran if int(s.get("lost", 1)) == 0 and not is_saturated(s)]
    pool = clean or ran
    return max(pool, key=lambda s: float(s["rate"])) if pool else None


def idle_cpu_pct(window: Mapping[str, Any]) -> dict[str, float]:
    """Each role's CPU % (100 = one core) over a window with no load: what it costs to exist."""
    seconds = float(window.get("window_s", 0.0))
    if seconds <= 0:
        return {}
    return {role: round(100 * cpu / seconds, 2) for role, cpu in window.get("roles_cpu_s", {}).items()}


def above_idle_us(
    roles_cpu_s: Mapping[str, float], idle_pct: Mapping[str, float], seconds: float, units: float
) -> dict[str, float]:
    """CPU µs per unit once each role's idle CPU over the same `seconds` is taken off: the
    marginal cost a capacity plan multiplies by the load (never below 0)."""
    if units <= 0:
        return {}
    return {
        role: round(max(0.0, cpu - idle_pct.get(role, 0.0) / 100 * seconds) * 1e6 / units, 1)
        for role, cpu in roles_cpu_s.items()
    }


def _unit_count(name: str, figures: Mapping[str, Any]) -> float:
    key = {"w1": "sent", "w2": "received", "w3": "connected", "w4": "clients"}[name]
    return float(figures.get(key, 0) or 0)


def _measured(name: str, workload: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """(where, the figures holding the CPU seconds and the unit count) of one workload."""
    if name in ("w1", "w2"):
        steps = workload.get("steps")
        if steps is None:  # W2: its first group
            first: Mapping[str, Any] = next(iter(workload.get("groups", {}).values()), {})
            steps = first.get("steps", [])
        step = chosen_step(steps)
        return (f"{float(step['rate']):g}/s", step) if step is not None else None
    return ("whole run", workload) if workload else None


def _costs(
    workloads: Mapping[str, Mapping[str, Any]], split: Any, idle_pct: Mapping[str, float] | None = None
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, unit in UNITS.items():
        if name not in workloads:
            continue
        found = _measured(name, workloads[name])
        if found is None:
            continue
        at, figures = found
        units = _unit_count(name, figures)
        if units <= 0:
            continue
        cpu_s = split(figures)
        out[name] = {"unit": unit, "at": at, "us": {r: round(c * 1e6 / units, 1) for r, c in cpu_s.items()}}
        if idle_pct is not None:
            seconds = float(figures.get("window_s", 0.0))
            idle = {**idle_pct, TOTAL: sum(idle_pct.values())}
            out[name]["us_above_idle"] = above_idle_us(cpu_s, idle, seconds, units)
    return out


def role_costs(
    workloads: Mapping[str, Mapping[str, Any]], idle_pct: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    """Per workload: {"unit", "at", "us": {role: CPU µs per unit, "cluster total": ...},
    "us_above_idle": the same less each role's idle CPU over the window}."""

    def split(figures: Mapping[str, Any]) -> dict[str, float]:
        return {**figures.get("roles_cpu_s", {}), TOTAL: float(figures.get("server_cpu_s", 0.0))}

    return _costs(workloads, split, idle_pct)


def node_costs(workloads: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The same table for the single node: its whole process tree as one role."""

    def split(figures: Mapping[str, Any]) -> dict[str, float]:
        return {"single node": float(figures.get("server_cpu_s", 0.0))}

    return _costs(workloads, split)


def redis_ops(workloads: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Redis commands per unit of each workload (set-up included: its sign-ups and session
    registrations are a small share), with the commands that made them."""
    out: dict[str, dict[str, Any]] = {}
    for name, unit in UNITS.items():
        workload = workloads.get(name, {})
        commands = workload.get("redis_commands")
        if not commands:
            continue
        if name in ("w1", "w2"):
            steps = workload.get("steps")
            if steps is None:
                steps = [s for g in workload.get("groups", {}).values() for s in g["steps"]]
            units = sum(_unit_count(name, s) for s in steps if s.get("status") == "ok")
        else:
            units = _unit_count(name, workload)
        if units > 0:
            total = sum(commands.values())
            out[name] = {"unit": unit, "per_unit": round(total / units, 2), "commands": total}
    return out
