"""Pure rules of the stepped workloads: when a step is saturated (stop stepping), which step
is the capacity, memory per connection, and ratios against the baseline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Issue 9's goal is 32,000 msgs/s (binary and JSON); the ladder goes on to 48,000 to show the margin.
W1_RATES = (250, 500, 1000, 2000, 4000, 8000, 16000, 24000, 32000, 48000)
W1_QUICK_RATES = (250, 1000, 4000)
# Group sends/s; deliveries/s = rate x (online members - 1): 100 members online -> 99 each.
# 3,031 sends/s = 300,069 deliveries/s: the step that decides the 300,000 goal; 4,000 = 396,000.
W2_RATES = (50, 100, 200, 400, 600, 810, 1200, 1600, 2400, 3031, 4000)
W2_QUICK_RATES = (50, 200)

CAPACITY_P99_MS = 100.0
SATURATED_DELIVERY_FRACTION = 0.8
SATURATED_P99_MS = 1000.0


def is_saturated(step: Mapping[str, Any]) -> bool:
    """Stepping further is pointless: far less delivered than offered, or latency past a second."""
    expected = float(step.get("expected_deliveries", 0))
    received = float(step.get("received", 0))
    if expected > 0 and received < SATURATED_DELIVERY_FRACTION * expected:
        return True
    return float(step.get("p99_ms", 0.0)) > SATURATED_P99_MS


def cpu_per_message(step: Mapping[str, Any]) -> dict[str, float]:
    """The server's and the generator's CPU µs per message sent and per delivery in a step:
    each side's CPU seconds over the whole step (drain included) over the messages sent and
    received. The figure contention on a shared machine distorts least (a busy machine
    stretches wall time, not the CPU a message costs)."""
    sent = float(step.get("sent", 0))
    received = float(step.get("received", 0))
    figures: dict[str, float] = {}
    for side in ("server", "generator"):
        cpu_us = float(step.get(f"{side}_cpu_s", 0.0)) * 1e6
        figures[f"{side}_cpu_us_per_msg"] = round(cpu_us / sent, 1) if sent else 0.0
        figures[f"{side}_cpu_us_per_delivery"] = round(cpu_us / received, 1) if received else 0.0
    return figures


def meets_capacity(step: Mapping[str, Any], p99_ms: float = CAPACITY_P99_MS) -> bool:
    """A step counts toward capacity when p99 < 100 ms and nothing was lost or left unacked."""
    return (
        step.get("status", "ok") == "ok"
        and float(step.get("p99_ms", float("inf"))) < p99_ms
        and int(step.get("lost", 1)) == 0
        and int(step.get("unacked", 0)) == 0
        and int(step.get("received", 0)) > 0
    )


def capacity(steps: Iterable[Mapping[str, Any]], key: str = "rate") -> float:
    """`key` of the highest step meeting the capacity rule (0 when none does)."""
    return max((float(s[key]) for s in steps if meets_capacity(s)), default=0.0)


def not_reached(rate: float) -> dict[str, Any]:
    """The record of a step skipped because an earlier one was saturated."""
    return {"rate": rate, "status": "not reached"}


def step_at(steps: Sequence[Mapping[str, Any]], rate: float) -> Mapping[str, Any] | None:
    return next((s for s in steps if float(s.get("rate", -1)) == rate and s.get("status") == "ok"), None)


def kib_per_connection(rss_before: int, rss_after: int, connections: int) -> float:
    """Server memory per connection: (RSS with N open - RSS before) / N, in KiB."""
    if connections <= 0:
        return 0.0
    return round((rss_after - rss_before) / connections / 1024, 2)


def ratio(value: float | None, baseline: float | None) -> float | None:
    """hubbub's figure as a fraction of the baseline's (None when either is missing)."""
    if value is None or not baseline:
        return None
    return round(value / baseline, 3)
