"""The best-edge rule's promises, over any set of nodes hypothesis can think of."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from discovery.model import NodeInfo, NodeKind
from discovery.rules import DEFAULT_CAPACITY, assignable, choose_edge, has_room, load
from kernel.errors import Unavailable

ZONES = ("", "a", "b")


@st.composite
def node_sets(draw: st.DrawFn) -> list[NodeInfo]:
    count = draw(st.integers(min_value=0, max_value=8))
    nodes = []
    for i in range(count):
        nodes.append(
            NodeInfo(
                f"n{i}",
                draw(st.sampled_from([NodeKind.EDGE, NodeKind.EDGE, NodeKind.EDGE, NodeKind.ROUTER])),
                f"n{i}:1",
                f"ws://n{i}",
                connections=draw(st.integers(min_value=0, max_value=200)),
                draining=draw(st.booleans()),
                zone=draw(st.sampled_from(ZONES)),
                capacity=draw(st.sampled_from([0, 1, 50, 100, 200])),
                weight=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])),
            )
        )
    return nodes


users = st.text(min_size=1, max_size=8)
zones = st.sampled_from(ZONES)
previous = st.sampled_from(["", "n0", "n1", "n2", "gone"])


def choose(nodes: list[NodeInfo], user: str, zone: str = "", prev: str = "") -> NodeInfo | None:
    try:
        return choose_edge(nodes, user, zone=zone, previous_edge_id=prev)
    except Unavailable:
        return None


@settings(deadline=None)  # no timing: a loaded machine is not a failure
@given(node_sets(), users, zones, previous)
def test_an_edge_is_chosen_exactly_when_one_is_healthy_and_not_draining(
    nodes: list[NodeInfo], user: str, zone: str, prev: str
) -> None:
    chosen = choose(nodes, user, zone, prev)
    if any(assignable(n) for n in nodes):
        assert chosen is not None and chosen in nodes
        assert chosen.kind is NodeKind.EDGE and not chosen.draining and chosen.weight > 0
    else:
        assert chosen is None


@settings(deadline=None)  # no timing: a loaded machine is not a failure
@given(node_sets(), users, zones)
def test_without_a_previous_edge_no_eligible_edge_is_less_loaded(
    nodes: list[NodeInfo], user: str, zone: str
) -> None:
    chosen = choose(nodes, user, zone)
    if chosen is None:
        return
    eligible = [n for n in nodes if assignable(n)]
    same_zone = [n for n in eligible if n.zone == zone] if zone else []
    pool = same_zone or eligible
    assert chosen in pool
    assert all(load(chosen) <= load(n) for n in pool)


@settings(deadline=None)  # no timing: a loaded machine is not a failure
@given(node_sets(), users, zones)
def test_same_zone_wins_over_a_less_loaded_edge_elsewhere(
    nodes: list[NodeInfo], user: str, zone: str
) -> None:
    chosen = choose(nodes, user, zone)
    if zone and any(assignable(n) and n.zone == zone for n in nodes):
        assert chosen is not None and chosen.zone == zone


@settings(deadline=None)  # no timing: a loaded machine is not a failure
@given(node_sets(), users, zones, previous)
def test_a_reconnecting_device_stays_while_its_edge_can_take_it(
    nodes: list[NodeInfo], user: str, zone: str, prev: str
) -> None:
    chosen = choose(nodes, user, zone, prev)
    old = next((n for n in nodes if n.node_id == prev), None)
    if old is not None and assignable(old) and has_room(old):
        assert chosen == old
    else:  # a draining, dead or full edge holds nobody: the device is placed as a new client is
        assert chosen == choose(nodes, user, zone)


@settings(deadline=None)  # no timing: a loaded machine is not a failure
@given(node_sets(), users, zones, previous, st.randoms(use_true_random=False))
def test_the_answer_does_not_depend_on_the_listing_order(
    nodes: list[NodeInfo], user: str, zone: str, prev: str, rng: random.Random
) -> None:
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    assert choose(nodes, user, zone, prev) == choose(shuffled, user, zone, prev)


def test_unknown_capacity_counts_as_the_default() -> None:
    sized = NodeInfo("big", NodeKind.EDGE, connections=DEFAULT_CAPACITY // 2 + 1, capacity=DEFAULT_CAPACITY)
    unknown = NodeInfo("unknown", NodeKind.EDGE, connections=DEFAULT_CAPACITY // 2)
    assert choose_edge([sized, unknown], "alice").node_id == "unknown"


def test_capacity_and_weight_scale_the_load() -> None:
    small = NodeInfo("small", NodeKind.EDGE, connections=10, capacity=100)
    large = NodeInfo("large", NodeKind.EDGE, connections=50, capacity=1000)
    assert choose_edge([small, large], "alice").node_id == "large"  # 5% beats 10%
    heavy = NodeInfo("heavy", NodeKind.EDGE, connections=10, capacity=100, weight=4.0)
    assert choose_edge([small, heavy], "alice").node_id == "heavy"  # 2.5% of its share


@pytest.mark.parametrize("reason", ["draining", "full", "gone"])
def test_a_device_leaves_its_previous_edge_when_it_cannot_stay(reason: str) -> None:
    old = NodeInfo(
        "old",
        NodeKind.EDGE,
        connections=100 if reason == "full" else 1,
        capacity=100,
        draining=reason == "draining",
    )
    other = NodeInfo("other", NodeKind.EDGE, connections=90, capacity=100)
    nodes = [other] if reason == "gone" else [old, other]
    assert choose_edge(nodes, "alice", previous_edge_id="old").node_id == "other"


def test_a_device_stays_on_its_previous_edge_though_another_is_emptier() -> None:
    old = NodeInfo("old", NodeKind.EDGE, connections=99, capacity=100, zone="b")
    other = NodeInfo("other", NodeKind.EDGE, connections=0, capacity=100, zone="a")
    assert choose_edge([old, other], "alice", zone="a", previous_edge_id="old").node_id == "old"
