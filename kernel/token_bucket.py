"""The one token bucket of hubbub: a pure function of (bucket, now), used by every limiter
(edge inbound limits, router typing, log-in and sign-up throttles), plus a bounded keyed table.

No clock inside: callers pass `now_ms`, so limits are tested by passing times, never by sleeping.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Rate:
    """`burst` events at once, then `per_second` sustained."""

    burst: float
    per_second: float

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_second <= 0:
            raise ValueError("a rate needs burst >= 1 and per_second > 0")

    def scaled(self, factor: float) -> Rate:
        return Rate(max(1.0, self.burst * factor), self.per_second * factor)


class Bucket(NamedTuple):
    """Immutable, and a tuple: several are built per frame, and a frozen dataclass costs
    about twice as much to build (one `object.__setattr__` per field)."""

    tokens: float
    updated_ms: int


class Taken(NamedTuple):
    """The outcome of one `take`: whether it passed, the bucket after it, and (when refused)
    how long until one token is back."""

    allowed: bool
    bucket: Bucket
    retry_after_ms: int = 0


def full_bucket(rate: Rate, now_ms: int) -> Bucket:
    return Bucket(tokens=float(rate.burst), updated_ms=now_ms)


def refilled(bucket: Bucket, now_ms: int, rate: Rate) -> Bucket:
    """The bucket at `now_ms`: tokens regained continuously up to `burst`. A clock that steps
    back refills nothing (elapsed is clamped at zero)."""
    elapsed_ms = max(0, now_ms - bucket.updated_ms)
    tokens = min(float(rate.burst), bucket.tokens + elapsed_ms * rate.per_second / 1000.0)
    return Bucket(tokens, max(now_ms, bucket.updated_ms))


def retry_after_ms(bucket: Bucket, rate: Rate, cost: float = 1.0) -> int:
    """Milliseconds until `bucket` (already refilled to now) holds `cost` tokens; 0 if it does."""
    missing = cost - bucket.tokens
    if missing <= 0:
        return 0
    return max(1, math.ceil(missing * 1000.0 / rate.per_second))


def take(bucket: Bucket | None, now_ms: int, rate: Rate, cost: float = 1.0) -> Taken:
    """Whether an event costing `cost` tokens may pass at `now_ms` (None = a fresh, full bucket)."""
    current = full_bucket(rate, now_ms) if bucket is None else refilled(bucket, now_ms, rate)
    if current.tokens >= cost:
        return Taken(True, Bucket(current.tokens - cost, current.updated_ms))
    return Taken(False, current, retry_after_ms(current, rate, cost))


def peek(bucket: Bucket | None, now_ms: int, rate: Rate, cost: float = 1.0) -> int:
    """Like `take` but spends nothing: 0 when `cost` tokens are there, else the retry-after."""
    if bucket is None:
        return 0
    return retry_after_ms(refilled(bucket, now_ms, rate), rate, cost)


class BucketTable(Generic[K]):
    """Buckets for the most recently used keys; the least recently used is forgotten beyond
    `capacity` (a forgotten key starts full again, which only ever lets a little more through)."""

    def __init__(self, rate: Rate, *, capacity: int = 100_000) -> None:
        self.rate = rate
        self._capacity = capacity
        self._buckets: OrderedDict[K, Bucket] = OrderedDict()

    def take(self, key: K, now_ms: int, cost: float = 1.0) -> Taken:
        taken = take(self._buckets.pop(key, None), now_ms, self.rate, cost)
        self._store(key, taken.bucket)
        return taken

    def peek(self, key: K, now_ms: int, cost: float = 1.0) -> int:
        """0 if `key` could spend `cost` now, else the milliseconds until it can (spends nothing)."""
        return peek(self._buckets.get(key), now_ms, self.rate, cost)

    def forget(self, key: K) -> None:
        self._buckets.pop(key, None)

    def __len__(self) -> int:
        return len(self._buckets)

    def _store(self, key: K, bucket: Bucket) -> None:
        self._buckets[key] = bucket
        if len(self._buckets) > self._capacity:
            self._buckets.popitem(last=False)
