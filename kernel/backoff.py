"""Retry spacing every room shares: exponential backoff with full jitter (one rule, so the
edge's reconnects and the router's Seal retries cannot drift apart)."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, rng: random.Random, *, base_s: float = 0.05, cap_s: float = 2.0) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0.0, min(cap_s, base_s * (2 ** min(attempt, 30))))
