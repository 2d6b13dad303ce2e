"""Log-in and sign-up throttles: failed log-ins per (account, address), per account and per
address, sign-ups per address. Token buckets (kernel/token_bucket.py) with `now_ms` passed in.

A guesser is locked out per (account, source address): five wrong passwords a minute from one
address lock that account *for that address*, even for the right password (the guesser cannot
tell a lockout from a wrong guess). Nobody else is locked out of a victim's account by it. The
account as a whole has a far higher limit across all addresses (100 a minute), against a
guesser spread over many addresses; past it only addresses the account logged in from before
get in, so its owner's own devices are never locked out. Callers check ids and passwords
against their rules first: only well-formed ids become keys (one costs at most 32 characters).
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass

from kernel.errors import RateLimited
from kernel.token_bucket import BucketTable, Rate

FAILURES_PER_ACCOUNT_ADDRESS = Rate(5, 5 / 60)
FAILURES_PER_ACCOUNT = Rate(100, 100 / 60)
FAILURES_PER_ADDRESS = Rate(20, 20 / 60)
SIGN_UPS_PER_ADDRESS = Rate(20, 20 / 3600)


def address_key(address: str) -> str:
    """The key a source address is throttled by: an IPv6 address by its /64 (one host holds a
    whole /64, so per address would be no limit), anything else as it is."""
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 else address  # "1.2.3.4:5678"
    host = host.removeprefix("[").split("]")[0]  # "[::1]:5678"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(frozen=True)
class AuthLimits:
    failures_per_account_address: Rate = FAILURES_PER_ACCOUNT_ADDRESS
    """5 failed log-ins per account from one source address, then 5 a minute: a lockout for
    that address only."""
    failures_per_account: Rate = FAILURES_PER_ACCOUNT
    """100 failed log-ins per account from all addresses together, then 100 a minute; past it
    only addresses the account logged in from before get in."""
    failures_per_address: Rate = FAILURES_PER_ADDRESS
    """20 failed log-ins per source address, then 20 a minute."""
    sign_ups_per_address: Rate = SIGN_UPS_PER_ADDRESS
    """20 sign-ups per source address (IPv6: per /64), then 20 an hour."""
    table_size: int = 100_000
    """Accounts and addresses remembered per throttle (least recently used forgotten)."""


class AuthThrottle:
    """The throttles of one messaging process. An empty address (a caller that did not say,
    e.g. a test calling Accounts directly) is throttled as one address of its own."""

    def __init__(self, limits: AuthLimits | None = None) -> None:
        self.limits = limits or AuthLimits()
        size = self.limits.table_size
        self._pairs = BucketTable[tuple[str, str]](self.limits.failures_per_account_address, capacity=size)
        self._accounts = BucketTable[str](self.limits.failures_per_account, capacity=size)
        self._addresses = BucketTable[str](self.limits.failures_per_address, capacity=size)
        self._sign_ups = BucketTable[str](self.limits.sign_ups_per_address, capacity=size)
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()  # (account, address) logged in

    def __len__(self) -> int:
        """Entries remembered in all its tables (bounded by `table_size` each)."""
        return (
            len(self._pairs)
            + len(self._accounts)
            + len(self._addresses)
            + len(self._sign_ups)
            + len(self._known)
        )

    def before_log_in(self, user_id: str, address: str, now_ms: int) -> None:
        """Raise RateLimited when this address may not try this account now."""
        key = address_key(address)
        wait = self._pairs.peek((user_id, key), now_ms)
        if key:
            wait = max(wait, self._addresses.peek(key, now_ms))
        if (user_id, key) not in self._known:
            wait = max(wait, self._accounts.peek(user_id, now_ms))
        if wait:
            raise RateLimited(f"too many failed log-ins: retry after {wait} ms", retry_after_ms=wait)

    def log_in_failed(self, user_id: str, address: str, now_ms: int) -> None:
        key = address_key(address)
        self._pairs.take((user_id, key), now_ms)
        self._accounts.take(user_id, now_ms)
        if key:
            self._addresses.take(key, now_ms)

    def log_in_succeeded(self, user_id: str, address: str = "") -> None:
        """The right password: this address's failures on the account are forgotten (the
        address's own are not), and the address is one the account logs in from."""
        key = address_key(address)
        self._pairs.forget((user_id, key))
        self._known[(user_id, key)] = None
        self._known.move_to_end((user_id, key))
        while len(self._known) > self.limits.table_size:
            self._known.popitem(last=False)

    def sign_up(self, address: str, now_ms: int) -> None:
        """Spend one sign-up of `address` (IPv6: its /64), or raise RateLimited."""
        if not address:
            return
        taken = self._sign_ups.take(address_key(address), now_ms)
        if not taken.allowed:
            raise RateLimited(
                f"too many sign-ups from this address: retry after {taken.retry_after_ms} ms",
                retry_after_ms=taken.retry_after_ms,
            )
