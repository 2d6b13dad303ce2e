"""The presence rules with `now` passed in: no clock, no sleeping."""

from __future__ import annotations

import pytest

from kernel.errors import InvalidArgument
from presence.model import EdgeReport, SessionChange, UserPresence
from presence.rules import PresenceState, apply_report, expire, next_deadline, status

T0 = 1_000_000
LEASE = 10_000
DEBOUNCE = 2_000


def opened(user: str, session: int, device: str = "d1") -> SessionChange:
    return SessionChange(user, device, session, True)


def closed(user: str, session: int, device: str = "d1") -> SessionChange:
    return SessionChange(user, device, session, False)


def report(edge: str, *changes: SessionChange, snapshot: bool = False) -> EdgeReport:
    return EdgeReport(edge_id=edge, lease_ms=LEASE, changes=changes, full_snapshot=snapshot)


def new_state() -> PresenceState:
    return PresenceState(debounce_ms=DEBOUNCE)


def test_going_online_is_published_at_once() -> None:
    state, changes = apply_report(new_state(), report("e1", opened("alice", 1)), T0)
    assert changes == [UserPresence("alice", True, T0)]
    assert status(state, "alice", T0 + 5) == UserPresence("alice", True, T0 + 5)


def test_going_offline_is_published_only_after_the_debounce_window() -> None:
    state, _ = apply_report(new_state(), report("e1", opened("alice", 1)), T0)
    state, changes = apply_report(state, report("e1", closed("alice", 1)), T0 + 100)
    assert changes == []
    assert next_deadline(state) == T0 + 100 + DEBOUNCE
    # inside the window the debounced view still says online
    assert status(state, "alice", T0 + 200).online
    state, changes = expire(state, T0 + 100 + DEBOUNCE - 1)
    assert changes == []
    state, changes = expire(state, T0 + 100 + DEBOUNCE)
    assert changes == [UserPresence("alice", False, T0 + 100)]
    assert status(state, "alice", T0 + 9_000) == UserPresence("alice", False, T0 + 100)


def test_a_reconnect_inside_the_window_is_a_flap_and_publishes_nothing() -> None:
    state, _ = apply_report(new_state(), report("e1", opened("alice", 1)), T0)
    state, _ = apply_report(state, report("e1", closed("alice", 1)), T0 + 100)
    state, changes = apply_report(state, report("e2", opened("alice", 2)), T0 + 1_000)
    assert changes == []
    state, changes = expire(state, T0 + 100 + DEBOUNCE)
    assert changes == []
    assert status(state, "alice", T0 + 5_000).online


def test_a_close_and_reopen_in_one_batch_is_no_change() -> None:
    state, _ = apply_report(new_state(), report("e1", opened("alice", 1)), T0)
    state, changes = apply_report(state, report("e1", closed("alice", 1), opened("alice", 2)), T0 + 10)
    assert changes == []
    assert state.users["alice"].offline_deadline_ms is None


def test_offline_again_after_a_flap_uses_the_new_deadline() -> None:
    state, _ = apply_report(new_state(), report("e1", opened("alice", 1)), T0)
    state, _ = apply_report(state, report("e1", closed("alice", 1)), T0 + 100)
    state, _ = apply_report(state, report("e1", opened("alice", 2)), T0 + 200)
    state, _ = apply_report(state, report("e1", closed("alice", 2)), T0 + 300)
    state, changes = expire(state, T0 + 100 + DEBOUNCE)  # the first, cancelled deadline
    assert changes == []
    state, changes = expire(state, T0 + 300 + DEBOUNCE)
    assert changes == [UserPresence("alice", False, T0 + 300)]


def test_a_lapsed_lease_takes_the_edges_users_offline() -> None:
    state, _ = apply_report(new_state(), report("e1", opened("alice", 1), opened("bob", 2)), T0)
    state, _ = apply_report(state, report("e2", opened("carol", 3)), T0)
    state, _ = apply_report(state, report("e2"), T0 + LEASE - 1)  # e2 renews, e1 goes silent
    assert next_deadline(state) == T0 + LEASE
    state, changes = expire(state, T0 + LEASE)
    assert changes == []  # lapsed at T0 + LEASE: now offline pending
    state, changes = expire(state, T0 + LEASE + DEBOUNCE)
    assert sorted(changes, key=lambda c: c.user_id) == [
        UserPresence("alice", False, T0 + LEASE),
        UserPresence("bob", False, T0 + LEASE),
    ]
    assert status(state, "carol", T0 + LEASE + DEBOUNCE).online


def test_a_late_expiry_publishes_lapse_and_debounce_in_one_go() -> None:
    state, _ = apply_report(new_state(), report("e1", opened("alice", 1)), T0)
    state, changes = expire(state, T0 + LEASE + DEBOUNCE + 5_000)
    assert changes == [UserPresence("alice", False, T0 + LEASE)]
    assert next_deadline(state) is None


def test_a_report_after_the_lease_lapsed_does_not_revive_old_sessions() -> None:
    state, _ = apply_report(new_state(), report("e1", opened("alice", 1)), T0)
    # expire() never ran, but the lease is over: alice's session is gone all the same
    state, changes = apply_report(state, report("e1"), T0 + LEASE + 1)
    assert changes == []
    assert "alice" not in state.live
    state, changes = expire(state, T0 + LEASE + DEBOUNCE)
    assert changes == [UserPresence("alice", False, T0 + LEASE)]


def test_a_full_snapshot_forgets_sessions_it_does_not_list() -> None:
    state, _ = apply_report(new_state(), report("e1", opened("alice", 1), opened("bob", 2)), T0)
    state, changes = apply_report(
        state, report("e1", opened("bob", 2), opened("carol", 3), snapshot=True), T0 + 1
    )
    assert changes == [UserPresence("carol", True, T0 + 1)]
    assert state.edges["e1"].sessions == {("bob", "d1", 2), ("carol", "d1", 3)}
    state, changes = expire(state, T0 + 1 + DEBOUNCE)
    assert changes == [UserPresence("alice", False, T0 + 1)]


def test_a_full_snapshot_leaves_other_edges_alone() -> None:
    state, _ = apply_report(new_state(), report("e1", opened("alice", 1)), T0)
    state, _ = apply_report(state, report("e2", opened("bob", 2)), T0)
    state, changes = apply_report(state, report("e1", snapshot=True), T0 + 1)
    assert changes == []
    assert state.live == {"bob": 1}


def test_multi_device_user_goes_offline_only_with_the_last_device() -> None:
    state, changes = apply_report(
        new_state(), report("e1", opened("alice", 1, "phone"), opened("alice", 2, "laptop")), T0
    )
    assert changes == [UserPresence("alice", True, T0)]
    state, changes = apply_report(state, report("e2", opened("alice", 3, "tablet")), T0 + 1)
    assert changes == []  # already online
    state, _ = apply_report(state, report("e1", closed("alice", 1, "phone")), T0 + 2)
    state, _ = apply_report(state, report("e2", closed("alice", 3, "tablet")), T0 + 3)
    state, changes = expire(state, T0 + 3 + DEBOUNCE)
    assert changes == []  # the laptop is still there
    state, _ = apply_report(state, report("e1", closed("alice", 2, "laptop")), T0 + 4)
    state, changes = expire(state, T0 + 4 + DEBOUNCE)
    assert changes == [UserPresence("alice", False, T0 + 4)]


def test_duplicate_opens_and_unknown_closes_are_harmless() -> None:
    state, changes = apply_report(new_state(), report("e1", opened("alice", 1), opened("alice", 1)), T0)
    assert changes == [UserPresence("alice", True, T0)]
    assert state.live == {"alice": 1}
    state, changes = apply_report(state, report("e1", closed("bob", 9)), T0 + 1)
    assert changes == []
    assert state.live == {"alice": 1}


def test_unknown_users_are_offline_never_seen() -> None:
    assert status(new_state(), "nobody", T0) == UserPresence("nobody", False, 0)


def test_zero_debounce_publishes_offline_at_the_next_expiry() -> None:
    state, _ = apply_report(PresenceState(debounce_ms=0), report("e1", opened("alice", 1)), T0)
    state, _ = apply_report(state, report("e1", closed("alice", 1)), T0 + 1)
    assert next_deadline(state) == T0 + 1
    _, changes = expire(state, T0 + 1)
    assert changes == [UserPresence("alice", False, T0 + 1)]


@pytest.mark.parametrize(("edge", "lease"), [("", LEASE), ("e1", 0), ("e1", -5)])
def test_a_report_without_edge_or_lease_is_rejected(edge: str, lease: int) -> None:
    with pytest.raises(InvalidArgument):
        apply_report(new_state(), EdgeReport(edge_id=edge, lease_ms=lease), T0)


def test_no_deadline_when_nothing_is_held() -> None:
    assert next_deadline(new_state()) is None
