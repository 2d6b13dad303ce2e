"""Message and conversation ids as the messaging service uses them: time-ordered, carrying
the worker id, never going backwards when the clock does."""

from __future__ import annotations

from kernel.clock import ManualClock
from kernel.ids import MAX_SEQUENCE, SnowflakeGenerator, snowflake_time_ms, snowflake_worker


def test_ids_strictly_increase_within_one_millisecond() -> None:
    generator = SnowflakeGenerator(3, ManualClock())
    ids = [generator.next_id() for _ in range(MAX_SEQUENCE * 2 + 5)]  # spills into borrowed ms
    assert ids == sorted(set(ids))


def test_worker_bits_keep_two_workers_apart() -> None:
    clock = ManualClock()
    a = SnowflakeGenerator(1, clock).next_id()
    b = SnowflakeGenerator(1023, clock).next_id()
    assert a != b
    assert (snowflake_worker(a), snowflake_worker(b)) == (1, 1023)
    assert snowflake_time_ms(a) == snowflake_time_ms(b) == clock.now_ms()


def test_clock_going_backwards_never_reorders_ids() -> None:
    clock = ManualClock()
    generator = SnowflakeGenerator(1, clock)
    first = generator.next_id()
    clock.advance(-5_000)
    second = generator.next_id()
    clock.advance(10_000)
    third = generator.next_id()
    assert first < second < third
    assert snowflake_time_ms(third) == clock.now_ms()
