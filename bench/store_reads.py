"""History reads of `hubbub bench store`, after its appends: concurrent readers each asking a
conversation for the 50 newest messages (opening a conversation) or everything after seq N
(a resume, N = 50 before the end), timed apart; p50/p99 per kind beside the append figures."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from messaging.store.interface import MessageStore

PAGE = 50
"""The 50 newest, and the 50 after seq N: one page as clients ask for it."""


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def read_history(
    store: MessageStore, conversations: int, readers: int, seconds: float, seed: int = 1
) -> dict[str, Any]:
    """Reads for `seconds` from `readers` tasks over conversations 1..`conversations`."""
    last = {cid: await store.last_seq(cid) for cid in range(1, conversations + 1)}
    written = [cid for cid, seq in last.items() if seq > 0]
    if not written:
        return {"history_reads": 0}
    rng = random.Random(seed)
    timings: dict[str, list[float]] = {"newest": [], "after": []}
    rows = {"newest": 0, "after": 0}
    deadline = time.perf_counter() + seconds

    async def reader() -> None:
        while time.perf_counter() < deadline:
            cid = rng.choice(written)
            kind = "newest" if rng.random() < 0.5 else "after"
            started = time.perf_counter()
            newest = kind == "newest"
            anchor = 0 if newest else max(0, last[cid] - PAGE)
            got = await store.history(
                cid,
                anchor_seq=anchor,
                direction="before" if newest else "after",
                limit=PAGE,
                newest_first=newest,
            )
            timings[kind].append(time.perf_counter() - started)
            rows[kind] += len(got)

    started = time.perf_counter()
    await asyncio.gather(*(reader() for _ in range(readers)))
    elapsed = time.perf_counter() - started
    out: dict[str, Any] = {"history_reads": sum(len(t) for t in timings.values())}
    out["history_reads_per_s"] = round(out["history_reads"] / elapsed, 1)
    for kind, values in timings.items():
        values.sort()
        out[f"history_{kind}_p50_ms"] = round(percentile(values, 0.50) * 1000, 3)
        out[f"history_{kind}_p99_ms"] = round(percentile(values, 0.99) * 1000, 3)
        out[f"history_{kind}_rows_per_read"] = round(rows[kind] / len(values), 1) if values else 0.0
    return out
