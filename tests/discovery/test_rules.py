"""Best-edge choice as a pure function of nodes and user."""

from __future__ import annotations

from collections import Counter

import pytest

from discovery.model import NodeInfo, NodeKind
from discovery.rules import choose_edge
from kernel.errors import Unavailable


def edge(node_id: str, connections: int = 0, draining: bool = False) -> NodeInfo:
    return NodeInfo(node_id, NodeKind.EDGE, f"{node_id}:1", f"ws://{node_id}", connections, draining)


def test_least_connections_wins() -> None:
    nodes = [edge("e1", 30), edge("e2", 10), edge("e3", 20)]
    assert choose_edge(nodes, "alice").node_id == "e2"


def test_draining_edges_and_other_kinds_are_never_chosen() -> None:
    nodes = [
        edge("e1", 500),
        edge("e2", 0, draining=True),
        NodeInfo("router-1", NodeKind.ROUTER, "r:1"),
    ]
    assert choose_edge(nodes, "alice").node_id == "e1"


@pytest.mark.parametrize(
    "nodes",
    [[], [edge("e1", draining=True)], [NodeInfo("router-1", NodeKind.ROUTER, "r:1")]],
    ids=["none", "all-draining", "no-edges"],
)
def test_no_assignable_edge_is_unavailable(nodes: list[NodeInfo]) -> None:
    with pytest.raises(Unavailable):
        choose_edge(nodes, "alice")


def test_ties_are_deterministic_per_user_whatever_the_order() -> None:
    nodes = [edge(f"e{i}") for i in range(5)]
    for user in ("alice", "bob", "carol"):
        chosen = choose_edge(nodes, user).node_id
        assert choose_edge(list(reversed(nodes)), user).node_id == chosen
        # losing another edge does not move the user (rendezvous hashing)
        others = [n for n in nodes if n.node_id != chosen]
        assert (
            choose_edge([*others[1:], next(n for n in nodes if n.node_id == chosen)], user).node_id == chosen
        )


def test_ties_spread_users_over_the_edges() -> None:
    nodes = [edge(f"e{i}") for i in range(4)]
    counts = Counter(choose_edge(nodes, f"user-{i}").node_id for i in range(2000))
    assert set(counts) == {"e0", "e1", "e2", "e3"}
    assert min(counts.values()) > 300  # 500 expected each
