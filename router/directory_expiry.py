"""Runs the shared directory's expiry on a timer (every router does; a lapsed lease is cleared
once, by whichever gets there first: the backend's expiry is idempotent), so a dead edge's
sessions go when its lease lapses and its users then go to push."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from kernel.backoff import backoff_delay
from kernel.log_limit import LogAtMostEvery
from router.directory import SessionDirectory

log = logging.getLogger(__name__)
EXPIRE_TIMEOUT_S = 5.0
"""Bound on one expiry run (the Redis client's own timeouts come first)."""


def next_wait_s(due_ms: int | None, now_ms: int, check_ms: int) -> float:
    """Seconds until the next run: at the earliest lease deadline, at most check_ms away (a
    lease another router's process took sets deadlines this one never heard of)."""
    if due_ms is None:
        return check_ms / 1000
    return max(0.0, min(due_ms - now_ms, check_ms) / 1000)


async def expire_forever(directory: SessionDirectory, check_ms: int, now_ms: Callable[[], int]) -> None:
    """Until cancelled; a failed run is logged at a bounded rate and retried with backoff."""
    warn = LogAtMostEvery(log)
    rng = random.Random()
    attempt = 0
    while True:
        try:
            async with asyncio.timeout(EXPIRE_TIMEOUT_S):
                due = await directory.expire()
        except Exception as exc:  # noqa: BLE001 - Redis down: keep trying, the leases wait
            attempt += 1
            warn.warning("directory expiry failed, retrying: %r", exc)
            await asyncio.sleep(backoff_delay(attempt, rng, cap_s=check_ms / 1000))
            continue
        attempt = 0
        await asyncio.sleep(next_wait_s(due, now_ms(), check_ms))
