"""The one token bucket (kernel/token_bucket.py), with the time passed in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.token_bucket import Bucket, BucketTable, Rate, full_bucket, peek, take


def test_burst_then_refill() -> None:
    rate = Rate(3, 2.0)
    bucket: Bucket | None = None
    allowed = []
    for _ in range(5):
        taken = take(bucket, 0, rate)
        allowed.append(taken.allowed)
        bucket = taken.bucket
    assert allowed == [True, True, True, False, False]
    assert not take(bucket, 499, rate).allowed
    assert take(bucket, 500, rate).allowed


def test_a_refusal_says_when_a_token_is_back() -> None:
    rate = Rate(1, 4.0)  # one token per 250 ms
    first = take(None, 1_000, rate)
    refused = take(first.bucket, 1_100, rate)
    assert not refused.allowed
    assert refused.retry_after_ms == 150
    assert take(refused.bucket, 1_100 + refused.retry_after_ms, rate).allowed


def test_a_clock_stepping_back_refills_nothing() -> None:
    rate = Rate(1, 1.0)
    spent = take(full_bucket(rate, 1_000), 1_000, rate)
    assert not take(spent.bucket, 0, rate).allowed


def test_tokens_never_exceed_the_burst() -> None:
    rate = Rate(3, 0.5)
    taken = take(Bucket(0.0, 0), 10_000_000, rate)
    assert taken.allowed and taken.bucket.tokens == 2.0


def test_peek_spends_nothing() -> None:
    rate = Rate(1, 1.0)
    assert peek(None, 0, rate) == 0
    spent = take(None, 0, rate).bucket
    assert peek(spent, 0, rate) == 1000
    assert peek(spent, 0, rate) == 1000


def test_rates_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Rate(0, 1.0)
    with pytest.raises(ValueError):
        Rate(1, 0.0)


def test_table_keys_are_independent_and_bounded() -> None:
    table = BucketTable[tuple[str, int]](Rate(1, 0.5), capacity=2)
    assert table.take(("u", 1), 0).allowed
    assert not table.take(("u", 1), 0).allowed
    assert table.take(("u", 2), 0).allowed
    assert table.take(("v", 1), 0).allowed
    assert len(table) == 2  # ("u", 1), the least recently used, was forgotten
    assert table.take(("u", 1), 0).allowed


@given(st.lists(st.integers(min_value=0, max_value=1_000_000), min_size=1, max_size=200))
def test_never_more_than_burst_plus_refills(times: list[int]) -> None:
    rate = Rate(3, 0.5)
    table = BucketTable[str](rate)
    ordered = sorted(times)
    passed = sum(table.take("u", t).allowed for t in ordered)
    assert passed <= 3 + (ordered[-1] - ordered[0]) / 2000 + 1e-9
