"""The partition map's pure rules: a balanced assignment, the fewest moves to rebalance when a
router joins or leaves, and maps as values."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.errors import InvalidArgument
from kernel.ownership import (
    Move,
    Owner,
    PartitionMap,
    apply_moves,
    assign,
    owners_of,
    rebalance,
    rebalance_placed,
    static_map,
)


def loads(assignment: dict[int, str]) -> Counter[str]:
    return Counter(assignment.values())


@given(st.integers(1, 300), st.integers(1, 9))
def test_assign_owns_every_partition_evenly(partitions: int, n: int) -> None:
    routers = [f"r{i}" for i in range(n)]
    assignment = assign(partitions, routers)
    assert sorted(assignment) == list(range(partitions))
    counts = [loads(assignment)[r] for r in routers]
    assert max(counts) - min(counts) <= 1
    assert assign(partitions, list(reversed(routers))) == assignment, "deterministic"


@given(st.integers(1, 300), st.integers(1, 8), st.integers(1, 8))
def test_rebalance_moves_only_what_it_must(partitions: int, before: int, after: int) -> None:
    old = [f"r{i}" for i in range(before)]
    new = [f"r{i}" for i in range(after)]  # routers joined (after > before) or left
    current = assign(partitions, old)
    moves = rebalance(partitions, current, new)
    result = apply_moves(current, moves)
    counts = [loads(result)[r] for r in new]
    assert set(result.values()) <= set(new) and sorted(result) == list(range(partitions))
    assert max(counts) - min(counts) <= 1
    assert len({m.partition for m in moves}) == len(moves), "a partition moves at most once"
    # The fewest moves: what a router holds above its share (or holds and left) moves, no more.
    surplus_floor = sum(max(0, c - -(-partitions // after)) for r, c in loads(current).items() if r in new)
    gone = sum(1 for r in current.values() if r not in new)
    assert surplus_floor + gone <= len(moves)
    assert (
        len(moves)
        <= sum(max(0, c - partitions // after) for r, c in loads(current).items() if r in new) + gone
    )
    assert rebalance(partitions, result, new) == [], "a balanced map needs no moves"


@given(
    st.integers(1, 200),
    st.integers(1, 6),
    st.dictionaries(st.integers(0, 250), st.integers(0, 7), max_size=20),
)
def test_placed_partitions_go_to_their_live_router_and_stay_there(
    partitions: int, n: int, placed: dict[int, int]
) -> None:
    routers = [f"r{i}" for i in range(n)]
    placements = {p: f"r{r}" for p, r in placed.items()}  # some out of range, some on dead routers
    current = assign(partitions, routers)
    result = apply_moves(current, rebalance_placed(partitions, current, routers, placements))
    assert sorted(result) == list(range(partitions)) and set(result.values()) <= set(routers)
    honoured = {p: r for p, r in placements.items() if p < partitions and r in routers}
    assert all(result[p] == r for p, r in honoured.items())
    free = [result[p] for p in range(partitions) if p not in honoured]
    counts = [Counter(free)[r] for r in routers]
    assert max(counts) - min(counts) <= 1, "the unplaced ones stay balanced"
    assert rebalance_placed(partitions, result, routers, placements) == [], "nothing moves back"
    assert rebalance_placed(partitions, current, routers, {}) == rebalance(partitions, current, routers)


def test_one_placement_moves_one_partition() -> None:
    current = assign(16, ["router-1", "router-2"])  # router-1 holds 0-7
    moves = rebalance_placed(16, current, ["router-1", "router-2"], {3: "router-2"})
    assert moves == [Move(3, "router-1", "router-2")]
    # The placed router dies: its placement is ignored, and the partition is balanced again.
    after = apply_moves(current, moves)
    left = rebalance_placed(16, after, ["router-1"], {3: "router-2"})
    assert set(apply_moves(after, left).values()) == {"router-1"}


def test_a_joining_router_takes_half_from_the_one_that_had_all() -> None:
    current = assign(1024, ["router-1"])
    moves = rebalance(1024, current, ["router-1", "router-2"])
    assert len(moves) == 512
    assert {(m.source, m.target) for m in moves} == {("router-1", "router-2")}


def test_unowned_partitions_are_assigned() -> None:
    current = {p: "a" for p in range(0, 10, 2)}  # the odd ones lost their owner
    moves = rebalance(10, current, ["a"])
    assert [m.partition for m in moves] == [1, 3, 5, 7, 9] and all(m.source is None for m in moves)


def test_no_routers_no_moves_and_bad_p_is_refused() -> None:
    assert rebalance(8, {}, []) == []
    with pytest.raises(InvalidArgument):
        assign(0, ["a"])
    with pytest.raises(InvalidArgument):
        PartitionMap.empty(70_000)


def test_a_map_is_a_value_whose_version_grows_with_each_change() -> None:
    empty = PartitionMap.empty(4)
    first = empty.with_owner(2, Owner("a", "h:1", 1))
    assert empty.owner(2) is None and first.owner(2) == Owner("a", "h:1", 1)
    assert first.version == empty.version + 1
    second = first.with_owner(3, Owner("b", "h:2", 1))
    assert second.routers() == {"a": "h:1", "b": "h:2"}
    assert second.held_by("a") == {2: 1} and owners_of(second) == {2: "a", 3: "b"}


def test_the_static_map_is_balanced_and_unfenced() -> None:
    partition_map = static_map(8, ("h:1", "h:2"))
    assert sorted(Counter(o.target for o in partition_map.owners if o).values()) == [4, 4]
    assert all(o is not None and o.epoch == 0 for o in partition_map.owners)
