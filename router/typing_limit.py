"""Typing-indicator rate limit: a token bucket per (user, conversation) as a pure function of
`now`, and a small bounded table of buckets around it."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    at: float  # monotonic seconds of the last update


def take_token(bucket: Bucket | None, now: float, *, burst: float, refill_s: float) -> tuple[bool, Bucket]:
    """Whether one more event may pass at `now`, and the bucket after it.

    Starts full (`burst` tokens), regains one token every `refill_s` seconds. A clock that steps
    back refills nothing.
    """
    if bucket is None:
        tokens = burst
    else:
        elapsed = max(0.0, now - bucket.at)
        tokens = min(burst, bucket.tokens + elapsed / refill_s)
    if tokens >= 1.0:
        return True, Bucket(tokens - 1.0, now)
    return False, Bucket(tokens, now)


class TypingLimiter:
    """Buckets for the most recently active (user, conversation) pairs; old ones are forgotten
    (a forgotten pair starts full again, which only ever lets a little more through)."""

    def __init__(self, *, burst: float = 3.0, refill_s: float = 2.0, capacity: int = 100_000) -> None:
        self._burst = burst
        self._refill_s = refill_s
        self._capacity = capacity
        self._buckets: OrderedDict[tuple[str, int], Bucket] = OrderedDict()

    def allow(self, user_id: str, conversation_id: int, now: float) -> bool:
        key = (user_id, conversation_id)
        allowed, bucket = take_token(
            self._buckets.pop(key, None), now, burst=self._burst, refill_s=self._refill_s
        )
        self._buckets[key] = bucket
        if len(self._buckets) > self._capacity:
            self._buckets.popitem(last=False)
        return allowed
