"""Per-connection and per-user inbound limits, and the throttle on RATE_LIMITED answers."""

from __future__ import annotations

from edge.config import EdgeConfig
from edge.inbound_limits import ConnectionLimits, InboundRates, LimitClass, UserLimits
from kernel.token_bucket import Rate

RATES = InboundRates(
    per_connection={kind: Rate(2, 1.0) for kind in LimitClass}, user_factor=2.0, error_interval_ms=1000
)


def test_a_connection_gets_its_burst_then_a_retry_after() -> None:
    conn = ConnectionLimits(UserLimits(RATES))
    assert conn.check(LimitClass.SEND, "alice", 0).allowed
    assert conn.check(LimitClass.SEND, "alice", 0).allowed
    refused = conn.check(LimitClass.SEND, "alice", 0)
    assert not refused.allowed and refused.answer and refused.retry_after_ms == 1000
    assert conn.check(LimitClass.SEND, "alice", 1000).allowed


def test_classes_are_counted_apart() -> None:
    conn = ConnectionLimits(UserLimits(RATES))
    for _ in range(2):
        assert conn.check(LimitClass.TYPING, "alice", 0).allowed
    assert not conn.check(LimitClass.TYPING, "alice", 0).allowed
    assert conn.check(LimitClass.SEND, "alice", 0).allowed
    assert conn.check(LimitClass.QUERY, "alice", 0).allowed


def test_a_users_connections_share_the_user_bucket() -> None:
    users = UserLimits(RATES)  # per user: burst 4
    connections = [ConnectionLimits(users) for _ in range(10)]
    passed = sum(c.check(LimitClass.TYPING, "alice", 0).allowed for c in connections for _ in range(2))
    assert passed == 4
    refused = connections[-1].check(LimitClass.TYPING, "alice", 0)
    assert not refused.allowed and refused.retry_after_ms == 500  # the user bucket refills at 2/s
    # Another user on the same edge is not affected.
    assert ConnectionLimits(users).check(LimitClass.TYPING, "bob", 0).allowed


def test_a_refusal_by_the_user_bucket_spends_nothing_of_the_connection() -> None:
    users = UserLimits(RATES)
    other = ConnectionLimits(users)
    for _ in range(2):
        other.check(LimitClass.SEND, "alice", 0)
        ConnectionLimits(users).check(LimitClass.SEND, "alice", 0)
    fresh = ConnectionLimits(users)
    assert not fresh.check(LimitClass.SEND, "alice", 0).allowed
    # Once the user bucket refills, the fresh connection still has its whole burst.
    assert fresh.check(LimitClass.SEND, "alice", 1000).allowed
    assert fresh.check(LimitClass.SEND, "alice", 1000).allowed


def test_at_most_one_answer_per_class_and_interval() -> None:
    conn = ConnectionLimits(UserLimits(RATES))
    verdicts = [conn.check(LimitClass.SEND, "alice", t) for t in range(0, 999, 10)]
    refused = [v for v in verdicts if not v.allowed]
    assert sum(v.answer for v in refused) == 1
    assert not conn.check(LimitClass.TYPING, "alice", 0).answer  # typing: still allowed
    later = [conn.check(LimitClass.SEND, "alice", 2_000) for _ in range(5)]
    assert sum(not v.allowed and v.answer for v in later) == 1


def test_the_defaults_have_one_home_the_edge_config() -> None:
    """Regression: the defaults were said twice (EdgeConfig's rate_* fields and a table here)."""
    assert InboundRates() == InboundRates.from_config(EdgeConfig())
    tuned = InboundRates.from_config(
        EdgeConfig(rate_send_burst=7, typing_per_second=0.5, rate_user_factor=3.0, rate_error_interval_ms=250)
    )
    assert tuned.per_connection[LimitClass.SEND] == Rate(7, EdgeConfig.rate_send_per_second)
    assert tuned.per_connection[LimitClass.TYPING] == Rate(EdgeConfig.typing_burst, 0.5)
    assert (tuned.user_factor, tuned.error_interval_ms) == (3.0, 250)
