"""The token bucket: burst, refill, and a clock stepping back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge.rate_limit import full_bucket, take


def test_burst_then_refill() -> None:
    bucket = full_bucket(3, 0)
    allowed = []
    for _ in range(5):
        ok, bucket = take(bucket, 0, burst=3, per_second=2.0)
        allowed.append(ok)
    assert allowed == [True, True, True, False, False]
    ok, bucket = take(bucket, 499, burst=3, per_second=2.0)
    assert not ok
    ok, bucket = take(bucket, 500, burst=3, per_second=2.0)
    assert ok


def test_clock_stepping_back_refills_nothing() -> None:
    bucket = full_bucket(1, 1_000)
    _, bucket = take(bucket, 1_000, burst=1, per_second=1.0)
    ok, _ = take(bucket, 0, burst=1, per_second=1.0)
    assert not ok


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=200))
def test_never_more_than_burst_plus_refill(times: list[int]) -> None:
    times.sort()
    bucket = full_bucket(5, times[0])
    passed = 0
    for now in times:
        ok, bucket = take(bucket, now, burst=5, per_second=1.0)
        passed += ok
    assert passed <= 5 + (times[-1] - times[0]) / 1000
