"""Log-in and sign-up throttles: the rules with the time passed in, then through Accounts with
a manual clock (a lockout holds for the right password too, until its retry-after)."""

from __future__ import annotations

import pytest

from kernel.errors import RateLimited, Unauthenticated
from messaging.auth_throttle import AuthLimits, AuthThrottle, address_key
from messaging.passwords import PasswordHasher
from tests.messaging.conftest import Services

T0 = 1_700_000_000_000


def test_five_failures_lock_the_account_for_that_address_only() -> None:
    throttle = AuthThrottle()
    for _ in range(5):
        throttle.before_log_in("alice", "10.0.0.1", T0)
        throttle.log_in_failed("alice", "10.0.0.1", T0)
    with pytest.raises(RateLimited) as locked:
        throttle.before_log_in("alice", "10.0.0.1", T0)
    assert locked.value.retry_after_ms == 12_000  # 5 a minute: one back every 12 s
    throttle.before_log_in("alice", "10.0.0.2", T0)  # the victim elsewhere is not locked out
    throttle.before_log_in("alice", "10.0.0.1", T0 + 12_000)
    throttle.before_log_in("bob", "10.0.0.1", T0)  # other accounts are not locked


def test_failures_from_many_addresses_slow_the_account_but_not_its_known_addresses() -> None:
    throttle = AuthThrottle()
    throttle.log_in_succeeded("alice", "192.168.1.5")  # the owner's own device, earlier
    for i in range(100):
        throttle.log_in_failed("alice", f"10.0.{i // 250}.{i % 250}", T0)
    with pytest.raises(RateLimited):
        throttle.before_log_in("alice", "10.9.9.9", T0)  # a fresh address: slowed
    throttle.before_log_in("alice", "192.168.1.5", T0)  # the owner still gets in
    throttle.before_log_in("alice", "10.9.9.9", T0 + 600)  # 100 a minute: one back in 0.6 s


def test_ipv6_addresses_are_throttled_by_their_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("10.0.0.1") == "10.0.0.1"
    assert address_key("::ffff:10.0.0.1") == "10.0.0.1"
    throttle = AuthThrottle()
    for i in range(20):
        throttle.sign_up(f"2001:db8:1:2::{i + 1:x}", T0)  # one host, twenty addresses of its /64
    with pytest.raises(RateLimited):
        throttle.sign_up("2001:db8:1:2:dead:beef::1", T0)
    throttle.sign_up("2001:db8:1:3::1", T0)


def test_failures_per_address_span_accounts() -> None:
    throttle = AuthThrottle()
    for i in range(20):
        throttle.log_in_failed(f"user{i}", "10.0.0.9", T0)
    with pytest.raises(RateLimited):
        throttle.before_log_in("fresh", "10.0.0.9", T0)
    throttle.before_log_in("fresh", "10.0.0.8", T0)
    throttle.before_log_in("fresh", "", T0)  # no address known: per account only


def test_a_success_forgets_the_accounts_failures() -> None:
    throttle = AuthThrottle()
    for _ in range(4):
        throttle.log_in_failed("alice", "", T0)
    throttle.log_in_succeeded("alice")
    for _ in range(5):
        throttle.log_in_failed("alice", "", T0)
    with pytest.raises(RateLimited):
        throttle.before_log_in("alice", "", T0)


def test_sign_ups_per_address_per_hour() -> None:
    throttle = AuthThrottle()
    for _ in range(20):
        throttle.sign_up("10.0.0.1", T0)
    with pytest.raises(RateLimited) as refused:
        throttle.sign_up("10.0.0.1", T0)
    assert refused.value.retry_after_ms == 180_000  # 20 an hour: one back every 3 minutes
    throttle.sign_up("10.0.0.2", T0)
    throttle.sign_up("10.0.0.1", T0 + 180_000)


async def test_accounts_lock_out_an_address_even_for_the_right_password(services: Services) -> None:
    await services.users("alice")
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            await services.accounts.log_in("alice", "wrong password", "10.0.0.1")
    with pytest.raises(RateLimited) as locked:
        await services.accounts.log_in("alice", "password123", "10.0.0.1")
    # the reviewer's finding: five wrong passwords from one address used to lock alice out
    assert (await services.accounts.log_in("alice", "password123", "10.0.0.2")).user_id == "alice"
    services.clock.advance(locked.value.retry_after_ms - 1)
    with pytest.raises(RateLimited):
        await services.accounts.log_in("alice", "password123", "10.0.0.1")
    services.clock.advance(1)
    session = await services.accounts.log_in("alice", "password123", "10.0.0.1")
    assert session.user_id == "alice"


async def test_malformed_log_in_ids_and_passwords_are_refused_before_the_throttle(services: Services) -> None:
    await services.users("alice")
    huge_id, huge_password = "a" * 1_000_000, "p" * 600_000
    for user_id, password in ((huge_id, huge_password), ("Bad Id", "password123"), ("alice", huge_password)):
        with pytest.raises(Unauthenticated) as refused:
            await services.accounts.log_in(user_id, password, "10.0.0.1")
        assert refused.value.message == "wrong user id or password"
    assert len(services.accounts.throttle) == 0  # no key was stored for any of them


async def test_sign_ups_from_one_address_are_limited(services: Services) -> None:
    services.accounts.throttle = AuthThrottle(AuthLimits())
    for i in range(20):
        await services.accounts.sign_up(f"user{i}", "password123", "", "10.0.0.1")
    with pytest.raises(RateLimited):
        await services.accounts.sign_up("one-more", "password123", "", "10.0.0.1")
    assert await services.store.get_user("one-more") is None


async def test_a_full_hash_pool_refuses_at_once() -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1, concurrency=1, waiting=1)
    hasher.in_use = 2  # one hashing, one queued
    with pytest.raises(RateLimited) as refused:
        await hasher.verify("x", "y")
    assert refused.value.retry_after_ms > 0
    hasher.in_use = 1
    assert await hasher.verify(hasher._decoy, "decoy password, never matches")
    await hasher.close()
