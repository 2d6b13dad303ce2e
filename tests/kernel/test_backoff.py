"""The one backoff rule: full jitter, capped."""

from __future__ import annotations

import random

from kernel.backoff import backoff_delay


def test_backoff_is_full_jitter_capped() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(attempt, rng) for attempt in range(40)]
    assert all(0 <= d <= 2.0 for d in delays)
    assert all(backoff_delay(0, rng) <= 0.05 for _ in range(100))
