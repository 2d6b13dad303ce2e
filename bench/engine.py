"""Stepped, open-loop conversation load from several generator processes (W1, W2, baseline):
the parent drives the workers through setup and each step, then merges their records into one
step result with exact loss (acked but never received), duplicates and reorderings.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from tqdm import tqdm

from bench.engine_plan import Plan
from bench.engine_worker import StepRecord, handler
from bench.loadgen import latency_summary
from bench.pool import Pool

START_MARGIN_NS = 300_000_000
SETUP_TIMEOUT_S = 300.0


def merge(plan: Plan, records: list[StepRecord], rate: float, seconds: float) -> dict[str, Any]:
    """One step's result from every worker's record."""
    sent: dict[str, int] = {}
    acked: dict[str, int] = {}
    seen: dict[tuple[str, str], int] = {}
    latencies: list[float] = []
    totals = {"received": 0, "duplicated": 0, "reordered": 0, "errors": 0}
    first = min((r.first_send_ns for r in records if r.first_send_ns), default=0)
    last = max((r.last_receive_ns for r in records), default=0)
    for record in records:
        sent.update(record.sent)
        acked.update(record.acked)
        seen.update(record.seen)
        latencies.extend(record.latencies_ms)
        for key in totals:
            totals[key] += getattr(record, key)
    lost = expected = 0
    for sender, count in sent.items():
        bits = acked.get(sender, 0)
        receivers = plan.receivers_of(sender)
        expected += count * len(receivers)
        for receiver in receivers:
            lost += bin(bits & ~seen.get((receiver, sender), 0)).count("1")
    n_sent = sum(sent.values())
    n_acked = sum(bin(b).count("1") for b in acked.values())
    window_s = (last - first) / 1e9 if last > first else 0.0
    return {
        "rate": rate,
        "status": "ok",
        "seconds": seconds,
        "sent": n_sent,
        "send_rate": round(n_sent / seconds, 1),
        "acked": n_acked,
        "unacked": n_sent - n_acked,
        "expected_deliveries": expected,
        "delivered_per_s": round(totals["received"] / window_s, 1) if window_s else 0.0,
        **latency_summary(latencies),
        "lost": lost,
        **totals,
    }


class Engine:
    """Generator processes holding a plan's users; `step()` runs one offered rate on them."""

    def __init__(self, plan: Plan, processes: int, desc: str = "step") -> None:
        self.plan = plan
        self.desc = desc
        self.pool = Pool(functools.partial(handler, plan), min(processes, plan.online_count()))

    def __enter__(self) -> Engine:
        self.pool.__enter__()
        try:
            self.pool.ask(("setup",), SETUP_TIMEOUT_S)
            opened: dict[int, int] = {}
            for ids in self.pool.ask(("open",), SETUP_TIMEOUT_S):
                opened.update(ids)
            self.pool.ask(("learn", opened), SETUP_TIMEOUT_S)
        except BaseException:
            self.pool.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.__exit__()

    def step(self, rate: float, seconds: float, drain_s: float) -> dict[str, Any]:
        self.pool.reset()
        with tqdm(total=int(rate * seconds), unit="msg", desc=f"{self.desc} {rate:g}/s", leave=False) as bar:

            def tick() -> None:
                bar.n, received = self.pool.sums()
                bar.set_postfix(received=received, refresh=False)
                bar.refresh()

            start_ns = time.time_ns() + START_MARGIN_NS
            all_sent: dict[str, int] = {}
            for sent in self.pool.ask(("step", rate, start_ns, seconds), 5 * seconds + 60, tick):
                all_sent.update(sent)
            records = self.pool.ask(("expect", all_sent, drain_s), drain_s + 60, tick)
            tick()
        return merge(self.plan, records, rate, seconds)
