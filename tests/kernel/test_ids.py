from __future__ import annotations

from kernel.clock import ManualClock
from kernel.ids import (
    MAX_SEQUENCE,
    SnowflakeGenerator,
    SnowflakeState,
    next_snowflake,
    snowflake_time_ms,
    snowflake_worker,
)


def test_ids_carry_time_and_worker() -> None:
    clock = ManualClock(now_ms=1_750_000_000_123)
    new_id = SnowflakeGenerator(worker_id=7, clock=clock).next_id()
    assert snowflake_time_ms(new_id) == 1_750_000_000_123
    assert snowflake_worker(new_id) == 7


def test_ids_increase_within_and_across_milliseconds() -> None:
    clock = ManualClock()
    gen = SnowflakeGenerator(worker_id=1, clock=clock)
    ids = [gen.next_id() for _ in range(10)]
    clock.advance(1)
    ids += [gen.next_id() for _ in range(10)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 20


def test_clock_stepping_back_never_makes_ids_go_backwards() -> None:
    clock = ManualClock(now_ms=1_750_000_000_000)
    gen = SnowflakeGenerator(worker_id=1, clock=clock)
    first = gen.next_id()
    clock.advance(-5_000)
    assert gen.next_id() > first


def test_exhausted_millisecond_borrows_the_next() -> None:
    state = SnowflakeState(last_ms=1_750_000_000_000, sequence=MAX_SEQUENCE)
    new_id, same = next_snowflake(state, 1_750_000_000_000, worker_id=1)
    assert new_id is None and same == state
    clock = ManualClock(now_ms=1_750_000_000_000)
    gen = SnowflakeGenerator(worker_id=1, clock=clock)
    ids = [gen.next_id() for _ in range(MAX_SEQUENCE + 10)]
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    assert snowflake_time_ms(ids[-1]) == 1_750_000_000_001
