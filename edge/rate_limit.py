"""A token bucket as a pure function of (bucket, now): typing floods are cut at the edge.

No clock inside, so the limiter is tested by passing times, never by sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    updated_ms: int


def full_bucket(burst: int, now_ms: int) -> Bucket:
    return Bucket(tokens=float(burst), updated_ms=now_ms)


def take(bucket: Bucket, now_ms: int, *, burst: int, per_second: float) -> tuple[bool, Bucket]:
    """Whether one event may pass at `now_ms`, and the bucket after it.

    Tokens refill continuously at `per_second` up to `burst`; a clock that steps back
    refills nothing (elapsed is clamped at zero).
    """
    elapsed_ms = max(0, now_ms - bucket.updated_ms)
    tokens = min(float(burst), bucket.tokens + elapsed_ms * per_second / 1000.0)
    if tokens >= 1.0:
        return True, Bucket(tokens - 1.0, now_ms)
    return False, Bucket(tokens, now_ms)
