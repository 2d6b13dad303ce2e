"""The partition rule is stable (the same answer in every process and release) and spreads
Snowflake-style ids evenly."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from kernel.clock import SystemClock
from kernel.ids import SnowflakeGenerator
from kernel.partitions import DEFAULT_PARTITIONS, partition_of, user_partition


def test_the_rule_is_pinned() -> None:
    # Frozen values: if these change, every stored conversation would change owner.
    assert [partition_of(i, DEFAULT_PARTITIONS) for i in (1, 2, 42, 386061348129214464)] == [
        485,
        138,
        546,
        13,
    ]
    assert user_partition("alice", DEFAULT_PARTITIONS) == 71


@given(st.integers(min_value=0, max_value=2**64 - 1), st.integers(min_value=1, max_value=65_536))
def test_every_id_lands_in_range(conversation_id: int, partitions: int) -> None:
    assert 0 <= partition_of(conversation_id, partitions) < partitions


def test_snowflake_ids_from_one_worker_spread_over_partitions() -> None:
    ids = SnowflakeGenerator(worker_id=1, clock=SystemClock())
    counts = Counter(partition_of(ids.next_id(), 64) for _ in range(64 * 200))
    assert len(counts) == 64
    assert max(counts.values()) < 2 * min(counts.values())
