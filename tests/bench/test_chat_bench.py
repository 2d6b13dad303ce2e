"""The chat load generator against a real node: every acked message is counted once."""

from __future__ import annotations

import time

from bench.chat_bench import BenchConfig, pair_names, run_worker, summarize
from deploy.single_node import SingleNode


async def test_a_short_run_delivers_every_acked_message_once(node: SingleNode) -> None:
    config = BenchConfig(url=node.ws_url, users=6, rate=60.0, seconds=1.0, drain_s=60.0, prefix="t")
    reports: list[tuple[int, int]] = []

    async def start_at() -> int:
        return time.time_ns()

    stats = await run_worker(config, pair_names(config), start_at, lambda s, r: reports.append((s, r)))
    assert stats.sent == 60
    assert stats.acked == stats.sent == stats.received
    assert (stats.lost, stats.duplicated, stats.reordered, stats.errors) == (0, 0, 0, 0)
    assert len(stats.latencies_ms) == stats.received
    assert reports[-1] == (60, 60)
    summary = summarize(config, 1, stats)
    assert {"rate", "delivered_per_s", "p50_ms", "p99_ms", "p999_ms", "max_ms", "lost"} <= summary.keys()
