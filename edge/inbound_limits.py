"""Inbound limits at the edge: a token bucket per connection and one per user (shared by that
user's connections on this edge) for each class of frame, plus the rule that throttles the
RATE_LIMITED answers themselves. Pure: every call takes `now_ms`; no clock, no I/O.

A user spread over several edges gets each edge's allowance (the buckets are per edge).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from edge.config import EdgeConfig
from kernel.token_bucket import Bucket, BucketTable, Rate, take


class LimitClass(Enum):
    SEND = "send"
    RECEIPT = "receipt"
    QUERY = "query"
    TYPING = "typing"
    GROUP = "group"


CLASS_OF: Mapping[str, LimitClass] = {
    "send": LimitClass.SEND,
    "delete_message": LimitClass.SEND,  # a write to the conversation's log, like a send
    "delivered": LimitClass.RECEIPT,
    "read": LimitClass.RECEIPT,
    "history": LimitClass.QUERY,
    "list_conversations": LimitClass.QUERY,
    "read_by": LimitClass.QUERY,
    "resume": LimitClass.QUERY,
    "request_upload": LimitClass.QUERY,
    "request_downloads": LimitClass.QUERY,
    "confirm_upload": LimitClass.QUERY,
    "typing": LimitClass.TYPING,
    "open_direct": LimitClass.GROUP,
    "create_group": LimitClass.GROUP,
    "update_group": LimitClass.GROUP,
    "contact": LimitClass.GROUP,
    "log_out_everywhere": LimitClass.GROUP,  # an account change (on main; harmless before)
    "push_register": LimitClass.GROUP,  # an account change
    "push_delete": LimitClass.GROUP,
    "push_list": LimitClass.QUERY,
}


def class_of(kind: str) -> LimitClass:
    """The limit a frame kind counts against; a kind added later counts as a change."""
    return CLASS_OF.get(kind, LimitClass.GROUP)


WHAT: Mapping[LimitClass, str] = {
    LimitClass.SEND: "sends",
    LimitClass.RECEIPT: "receipts",
    LimitClass.QUERY: "queries",
    LimitClass.TYPING: "typing events",
    LimitClass.GROUP: "conversation and contact changes",
}


def per_connection_rates(config: EdgeConfig) -> dict[LimitClass, Rate]:
    """A connection's bucket per class, from the edge's `rate_*` and `typing_*` options."""
    return {
        LimitClass.SEND: Rate(config.rate_send_burst, config.rate_send_per_second),
        LimitClass.RECEIPT: Rate(config.rate_receipt_burst, config.rate_receipt_per_second),
        LimitClass.QUERY: Rate(config.rate_query_burst, config.rate_query_per_second),
        LimitClass.TYPING: Rate(config.typing_burst, config.typing_per_second),
        LimitClass.GROUP: Rate(config.rate_group_burst, config.rate_group_per_second),
    }


_DEFAULTS = EdgeConfig()
"""The defaults have one home, EdgeConfig (documented there and in docs/protocol.md)."""


@dataclass(frozen=True)
class InboundRates:
    """`per_connection` rates; a user's connections on one edge share `user_factor` times them.
    Built from an EdgeConfig (`from_config`); the defaults are EdgeConfig's."""

    per_connection: Mapping[LimitClass, Rate] = field(default_factory=lambda: per_connection_rates(_DEFAULTS))
    user_factor: float = _DEFAULTS.rate_user_factor
    error_interval_ms: int = _DEFAULTS.rate_error_interval_ms
    """After a RATE_LIMITED, frames of that class refused before its retry-after (at most this
    long) are dropped silently: at most one error per retry-after, and never more errors a
    second than frames allowed."""
    user_table_size: int = 200_000
    """(user, class) buckets remembered; the least recently used are forgotten beyond."""

    @classmethod
    def from_config(cls, config: EdgeConfig) -> InboundRates:
        """The edge's inbound limits (docs/protocol.md, Limits) from its config."""
        return cls(
            per_connection=per_connection_rates(config),
            user_factor=config.rate_user_factor,
            error_interval_ms=config.rate_error_interval_ms,
        )

    def per_user(self, kind: LimitClass) -> Rate:
        return self.per_connection[kind].scaled(self.user_factor)


class UserLimits:
    """The per-user buckets of one edge, shared by every connection of a user on it."""

    def __init__(self, rates: InboundRates) -> None:
        self.rates = rates
        self._tables = {
            kind: BucketTable[str](rates.per_user(kind), capacity=rates.user_table_size)
            for kind in LimitClass
        }

    def table(self, kind: LimitClass) -> BucketTable[str]:
        return self._tables[kind]


@dataclass(frozen=True, slots=True)
class Verdict:
    """`allowed`, or refused with `retry_after_ms`; `answer` says whether to tell the client
    (False: an error went out within the interval, so this frame is dropped silently)."""

    allowed: bool
    retry_after_ms: int = 0
    answer: bool = False


ALLOWED = Verdict(True)


class ConnectionLimits:
    """The buckets of one connection (made on first use) and, per class, until when refusals
    go unanswered (the retry-after it was last told, capped at the error interval)."""

    __slots__ = ("_buckets", "_quiet_until_ms", "users")

    def __init__(self, users: UserLimits) -> None:
        self.users = users
        # Made on first use: most connections of an idle edge never send anything.
        self._buckets: dict[LimitClass, Bucket] | None = None
        self._quiet_until_ms: dict[LimitClass, int] | None = None

    def check(self, kind: LimitClass, user_id: str, now_ms: int) -> Verdict:
        """Spend one token of the connection's and one of the user's bucket, or neither."""
        rates = self.users.rates
        rate = rates.per_connection[kind]
        table = self.users.table(kind)
        buckets = self._buckets
        if buckets is None:
            buckets = self._buckets = {}
        own = take(buckets.get(kind), now_ms, rate)
        if own.allowed:
            user = table.take(user_id, now_ms)  # refused: spends nothing, so neither does own
            if user.allowed:
                buckets[kind] = own.bucket
                return ALLOWED
            wait = user.retry_after_ms
        else:
            buckets[kind] = own.bucket
            wait = max(own.retry_after_ms, table.peek(user_id, now_ms))
        quiet = self._quiet_until_ms
        if quiet is None:
            quiet = self._quiet_until_ms = {}
        quiet_until = quiet.get(kind)
        if quiet_until is not None and now_ms < quiet_until:
            return Verdict(False, wait, answer=False)
        # Told once; frames refused before the retry-after it names (and within the interval)
        # are dropped silently. A client that waits as told is always answered.
        quiet[kind] = now_ms + min(wait, rates.error_interval_ms)
        return Verdict(False, wait, answer=True)


__all__ = [
    "ALLOWED",
    "CLASS_OF",
    "WHAT",
    "ConnectionLimits",
    "InboundRates",
    "LimitClass",
    "UserLimits",
    "Verdict",
    "class_of",
    "per_connection_rates",
]
