"""Log-in and sign-up throttles: the rules with the time passed in, then through Accounts with
a manual clock (a lockout holds for the right password too, until its retry-after)."""

from __future__ import annotations

import pytest

from kernel.errors import RateLimited, Unauthenticated
from messaging.auth_throttle import AuthLimits, AuthThrottle
from messaging.passwords import PasswordHasher
from tests.messaging.conftest import Services

T0 = 1_700_000_000_000


def test_five_failures_lock_the_account_until_a_token_is_back() -> None:
    throttle = AuthThrottle()
    for _ in range(5):
        throttle.before_log_in("alice", "10.0.0.1", T0)
        throttle.log_in_failed("alice", "10.0.0.1", T0)
    with pytest.raises(RateLimited) as locked:
        throttle.before_log_in("alice", "10.0.0.2", T0)  # another address: the account is locked
    assert locked.value.retry_after_ms == 12_000  # 5 a minute: one back every 12 s
    throttle.before_log_in("alice", "10.0.0.2", T0 + 12_000)
    throttle.before_log_in("bob", "10.0.0.1", T0)  # other accounts are not locked


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


async def test_accounts_lock_out_after_failures_even_for_the_right_password(services: Services) -> None:
    await services.users("alice")
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            await services.accounts.log_in("alice", "wrong password", "10.0.0.1")
    with pytest.raises(RateLimited) as locked:
        await services.accounts.log_in("alice", "password123", "10.0.0.1")
    services.clock.advance(locked.value.retry_after_ms - 1)
    with pytest.raises(RateLimited):
        await services.accounts.log_in("alice", "password123", "10.0.0.1")
    services.clock.advance(1)
    session = await services.accounts.log_in("alice", "password123", "10.0.0.1")
    assert session.user_id == "alice"


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
