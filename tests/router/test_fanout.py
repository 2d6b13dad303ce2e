"""Fan-out planning, receipt and typing audiences: pure functions, no sockets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protos import client_pb2
from router.directory import Placement
from router.fanout import FanoutPlan, plan_fanout, receipt_audience, typing_audience, without_session

PLACEMENT: Placement = {
    "alice": {"e1": {(1, "a-phone")}, "e2": {(7, "a-laptop")}},
    "bob": {"e1": {(2, "b-phone"), (3, "b-tablet")}},
    "carol": {"e2": {(8, "c-phone")}},
}


def test_every_session_of_every_member_grouped_by_edge() -> None:
    plan = plan_fanout(["alice", "bob", "carol"], PLACEMENT)
    assert {edge: sorted(ids) for edge, ids in plan.targets.items()} == {"e1": [1, 2, 3], "e2": [7, 8]}
    assert plan.offline == []


def test_the_sending_session_is_left_out_but_not_the_senders_other_devices() -> None:
    plan = plan_fanout(["alice", "bob", "carol"], PLACEMENT, exclude=("e1", 1), not_offline="alice")
    assert {edge: sorted(ids) for edge, ids in plan.targets.items()} == {"e1": [2, 3], "e2": [7, 8]}


def test_same_session_id_on_another_edge_is_a_different_session() -> None:
    placement: Placement = {"bob": {"e1": {(5, "x")}, "e2": {(5, "y")}}}
    plan = plan_fanout(["bob"], placement, exclude=("e1", 5))
    assert plan.targets == {"e2": [5]}


def test_members_without_sessions_are_offline_except_the_sender() -> None:
    plan = plan_fanout(["alice", "dave", "erin", "bob"], PLACEMENT, exclude=("e1", 2), not_offline="dave")
    assert plan.offline == ["erin"]


def test_a_user_whose_only_session_sent_is_not_offline_and_gets_nothing() -> None:
    placement: Placement = {"solo": {"e1": {(9, "d")}}}
    plan = plan_fanout(["solo"], placement, exclude=("e1", 9))
    assert plan.targets == {}
    assert plan.offline == []


def test_direct_receipts_go_to_both_members() -> None:
    audience = receipt_audience(client_pb2.CONVERSATION_KIND_DIRECT, ["alice", "bob"], "bob", [])
    assert audience == {"alice", "bob"}


def test_group_receipts_go_to_the_acker_and_the_covered_senders_only() -> None:
    members = [f"u{i}" for i in range(500)]
    audience = receipt_audience(client_pb2.CONVERSATION_KIND_GROUP, members, "u7", ["u1", "u2", "u7"])
    assert audience == {"u1", "u2", "u7"}


def test_typing_never_reaches_the_typist() -> None:
    assert typing_audience(["alice", "bob", "carol"], "bob") == ["alice", "carol"]


users_st = st.sampled_from(["ann", "ben", "cat", "dan", "eve"])
placement_st = st.dictionaries(
    users_st,
    st.dictionaries(
        st.sampled_from(["e1", "e2", "e3"]),
        st.sets(st.tuples(st.integers(1, 6), st.just("d")), min_size=1, max_size=3),
        min_size=1,
        max_size=3,
    ),
    max_size=5,
)


@given(
    placement_st,
    st.lists(users_st, unique=True, max_size=5),
    st.sampled_from(["e1", "e2", "e3"]),
    st.integers(1, 6),
    users_st,
)
def test_reusing_a_plan_equals_planning_with_the_exclusion(
    placement: Placement, members: list[str], edge: str, session: int, sender: str
) -> None:
    expected = plan_fanout(members, placement, exclude=(edge, session), not_offline=sender)
    reused = without_session(plan_fanout(members, placement), (edge, session), sender, placement)
    assert normalize(reused) == normalize(expected)


def normalize(plan: FanoutPlan) -> tuple[dict[str, list[int]], list[str]]:
    return {edge: sorted(ids) for edge, ids in plan.targets.items()}, sorted(plan.offline)
