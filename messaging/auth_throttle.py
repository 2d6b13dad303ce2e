"""Log-in and sign-up throttles: failed log-ins per account and per source address, sign-ups
per source address. Token buckets (kernel/token_bucket.py) with `now_ms` passed in; no I/O.

An account over its failures is locked until a token is back, even for the right password:
a guesser cannot tell a lockout from a wrong guess, and learns nothing from trying on.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.errors import RateLimited
from kernel.token_bucket import BucketTable, Rate

FAILURES_PER_ACCOUNT = Rate(5, 5 / 60)
FAILURES_PER_ADDRESS = Rate(20, 20 / 60)
SIGN_UPS_PER_ADDRESS = Rate(20, 20 / 3600)


@dataclass(frozen=True)
class AuthLimits:
    failures_per_account: Rate = FAILURES_PER_ACCOUNT
    """5 failed log-ins per account, then one more every 12 s (5 a minute)."""
    failures_per_address: Rate = FAILURES_PER_ADDRESS
    """20 failed log-ins per source address, then 20 a minute."""
    sign_ups_per_address: Rate = SIGN_UPS_PER_ADDRESS
    """20 sign-ups per source address, then 20 an hour."""
    table_size: int = 100_000
    """Accounts and addresses remembered per throttle (least recently used forgotten)."""


class AuthThrottle:
    """The throttles of one messaging process. An empty address (a caller that did not say,
    e.g. a test calling Accounts directly) is throttled per account only."""

    def __init__(self, limits: AuthLimits | None = None) -> None:
        self.limits = limits or AuthLimits()
        size = self.limits.table_size
        self._accounts = BucketTable[str](self.limits.failures_per_account, capacity=size)
        self._addresses = BucketTable[str](self.limits.failures_per_address, capacity=size)
        self._sign_ups = BucketTable[str](self.limits.sign_ups_per_address, capacity=size)

    def before_log_in(self, user_id: str, address: str, now_ms: int) -> None:
        """Raise RateLimited when the account or the address has no failure left to spend."""
        wait = self._accounts.peek(user_id, now_ms)
        if address:
            wait = max(wait, self._addresses.peek(address, now_ms))
        if wait:
            raise RateLimited(f"too many failed log-ins: retry after {wait} ms", retry_after_ms=wait)

    def log_in_failed(self, user_id: str, address: str, now_ms: int) -> None:
        self._accounts.take(user_id, now_ms)
        if address:
            self._addresses.take(address, now_ms)

    def log_in_succeeded(self, user_id: str) -> None:
        """The right password: the account's failures are forgotten (the address's are not)."""
        self._accounts.forget(user_id)

    def sign_up(self, address: str, now_ms: int) -> None:
        """Spend one sign-up of `address`, or raise RateLimited."""
        if not address:
            return
        taken = self._sign_ups.take(address, now_ms)
        if not taken.allowed:
            raise RateLimited(
                f"too many sign-ups from this address: retry after {taken.retry_after_ms} ms",
                retry_after_ms=taken.retry_after_ms,
            )
