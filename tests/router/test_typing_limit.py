"""The typing token bucket with `now` injected."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from router.typing_limit import Bucket, TypingLimiter, take_token


def test_burst_then_one_per_refill_interval() -> None:
    limiter = TypingLimiter(burst=3, refill_s=2.0)
    assert [limiter.allow("u", 1, 100.0) for _ in range(5)] == [True, True, True, False, False]
    assert limiter.allow("u", 1, 101.0) is False  # half a token
    assert limiter.allow("u", 1, 102.0) is True  # one whole token back
    assert limiter.allow("u", 1, 102.0) is False


def test_buckets_are_per_user_and_conversation() -> None:
    limiter = TypingLimiter(burst=1, refill_s=2.0)
    assert limiter.allow("u", 1, 0.0)
    assert not limiter.allow("u", 1, 0.0)
    assert limiter.allow("u", 2, 0.0)
    assert limiter.allow("v", 1, 0.0)


def test_tokens_never_exceed_the_burst() -> None:
    bucket = Bucket(tokens=0.0, at=0.0)
    allowed, bucket = take_token(bucket, 10_000.0, burst=3, refill_s=2.0)
    assert allowed and bucket.tokens == 2.0


def test_a_clock_stepping_back_refills_nothing() -> None:
    allowed, bucket = take_token(Bucket(tokens=0.5, at=50.0), 10.0, burst=3, refill_s=2.0)
    assert not allowed and bucket.tokens == 0.5


@given(st.lists(st.floats(min_value=0, max_value=1000), min_size=1, max_size=200))
def test_never_more_than_burst_plus_refills(times: list[float]) -> None:
    limiter = TypingLimiter(burst=3, refill_s=2.0)
    ordered = sorted(times)
    passed = sum(limiter.allow("u", 1, t) for t in ordered)
    assert passed <= 3 + (ordered[-1] - ordered[0]) / 2.0 + 1e-9
