"""Properties of the presence rules over random report/expiry sequences."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from presence.model import EdgeReport, SessionChange
from presence.rules import PresenceState, apply_report, expire, next_deadline, status

USERS = ["u0", "u1", "u2"]
EDGES = ["e0", "e1"]
LEASE = 1_000

change = st.builds(
    SessionChange,
    user_id=st.sampled_from(USERS),
    device_id=st.just("d"),
    session_id=st.integers(0, 3),
    online=st.booleans(),
)
report = st.builds(
    EdgeReport,
    edge_id=st.sampled_from(EDGES),
    lease_ms=st.just(LEASE),
    changes=st.lists(change, max_size=4).map(tuple),
    full_snapshot=st.booleans(),
)
step = st.tuples(st.integers(0, 1_500), st.one_of(report, st.none()))  # (ms to advance, report or expire)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(step, max_size=40), debounce=st.integers(0, 2_000))
def test_published_changes_alternate_and_everyone_ends_offline(
    steps: list[tuple[int, EdgeReport | None]], debounce: int
) -> None:
    state = PresenceState(debounce_ms=debounce)
    now = 0
    published: dict[str, list[bool]] = {}
    for advance, item in steps:
        now += advance
        if item is None:
            state, changes = expire(state, now)
        else:
            state, changes = apply_report(state, item, now)
        for c in changes:
            published.setdefault(c.user_id, []).append(c.online)
        for user in state.live:  # a user with a live session always reads as online
            assert status(state, user, now).online
        deadline = next_deadline(state)
        assert deadline is None or deadline > now or item is not None
    # silence long enough for every lease and debounce window to pass
    state, changes = expire(state, now + LEASE + debounce + 1)
    for c in changes:
        published.setdefault(c.user_id, []).append(c.online)
    assert next_deadline(state) is None
    for user, events in published.items():
        assert events[0] is True
        assert all(a != b for a, b in itertools.pairwise(events))  # never twice the same
        assert events[-1] is False
        assert not status(state, user, now).online
