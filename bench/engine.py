"""Stepped, open-loop conversation load from several generator processes (W1, W2, baseline):
the parent drives the workers through setup and each step, then merges their records into one
step result with exact loss (acked but never received), duplicates and reorderings.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from collections.abc import Callable
from multiprocessing.sharedctypes import SynchronizedArray
from typing import Any

from tqdm import tqdm

from bench.engine_plan import Plan
from bench.engine_worker import Command, StepRecord, Worker, serve
from bench.loadgen import latency_summary

START_MARGIN_NS = 300_000_000
SETUP_TIMEOUT_S = 300.0


def _new_loop() -> Any:
    try:
        import uvloop
    except ImportError:
        import asyncio

        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _process_main(
    plan: Plan,
    index: int,
    processes: int,
    commands: mp.Queue[Command],
    events: mp.Queue[Command],
    counters: SynchronizedArray[int],
) -> None:
    import asyncio

    try:
        with asyncio.Runner(loop_factory=_new_loop) as runner:
            runner.run(serve(Worker(plan, index, processes, counters), commands, events))
    except Exception as exc:  # noqa: BLE001 - any failure goes to the parent, which raises it
        events.put(("error", index, f"{type(exc).__name__}: {exc}"))


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
    """Worker processes holding a plan's users; `step()` runs one offered rate on them."""

    def __init__(self, plan: Plan, processes: int, desc: str = "step") -> None:
        self.plan = plan
        self.processes = max(1, min(processes, plan.online_count()))
        self.desc = desc
        ctx = mp.get_context("spawn")
        self._events: mp.Queue[Command] = ctx.Queue()
        self._commands: list[mp.Queue[Command]] = [ctx.Queue() for _ in range(self.processes)]
        self._counters = ctx.Array("q", 2 * self.processes)
        self._workers = [
            ctx.Process(
                target=_process_main,
                args=(plan, i, self.processes, self._commands[i], self._events, self._counters),
                daemon=True,
            )
            for i in range(self.processes)
        ]

    def __enter__(self) -> Engine:
        for worker in self._workers:
            worker.start()
        try:
            self._broadcast(("setup",))
            self._gather("ready", SETUP_TIMEOUT_S)
            self._broadcast(("open",))
            opened: dict[int, int] = {}
            for ids in self._gather("opened", SETUP_TIMEOUT_S):
                opened.update(ids)
            self._broadcast(("learn", opened))
            self._gather("learned", SETUP_TIMEOUT_S)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._broadcast(("stop",))
        for worker in self._workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.terminate()
                worker.join()

    def _broadcast(self, command: Command) -> None:
        for commands in self._commands:
            commands.put(command)

    def _gather(self, kind: str, timeout_s: float, tick: Callable[[], None] | None = None) -> list[Any]:
        payloads: list[Any] = [None] * self.processes
        pending = set(range(self.processes))
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers {sorted(pending)} did not answer {kind!r} in {timeout_s:.0f} s")
            try:
                got, index, payload = self._events.get(timeout=0.2)
            except queue.Empty:  # time to refresh the progress bar, and to notice dead workers
                if tick is not None:
                    tick()
                if not all(w.is_alive() for w in self._workers):
                    raise RuntimeError("a load generator process died") from None
                continue
            if got == "error":
                raise RuntimeError(f"load generator {index}: {payload}")
            if got != kind:
                raise RuntimeError(f"load generator {index}: expected {kind!r}, got {got!r}")
            payloads[index] = payload
            pending.discard(index)
        return payloads

    def step(self, rate: float, seconds: float, drain_s: float, position: int = 0) -> dict[str, Any]:
        total = int(rate * seconds)
        for k in range(len(self._counters)):
            self._counters[k] = 0
        with tqdm(
            total=total, unit="msg", desc=f"{self.desc} {rate:g}/s", leave=False, position=position, dynamic_ncols=True
        ) as bar:

            def tick() -> None:
                bar.n = sum(self._counters[0::2])
                bar.set_postfix(received=sum(self._counters[1::2]), refresh=False)
                bar.refresh()

            start_ns = time.time_ns() + START_MARGIN_NS
            self._broadcast(("step", rate, start_ns, seconds))
            all_sent: dict[str, int] = {}
            for sent in self._gather("sent", seconds + 60, tick):
                all_sent.update(sent)
            self._broadcast(("expect", all_sent, drain_s))
            records = self._gather("result", drain_s + 60, tick)
            tick()
        return merge(self.plan, records, rate, seconds)
