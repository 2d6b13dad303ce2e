"""Password hashing with argon2id, off the event loop: a hash costs tens of milliseconds of
CPU by design, so it runs in a bounded pool of its own while the loop keeps serving other calls.

The pool is capped (`concurrency` hashes at once, `waiting` more queued); past that a log-in
or sign-up is refused at once with RATE_LIMITED instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from kernel.errors import RateLimited

T = TypeVar("T")
BUSY_RETRY_AFTER_MS = 1000


class PasswordHasher:
    """Costs come from config; tests pass tiny ones (time_cost=1, memory_cost=8 KiB)."""

    def __init__(
        self,
        *,
        time_cost: int,
        memory_cost_kib: int,
        parallelism: int,
        concurrency: int = 2,
        waiting: int = 64,
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism
        )
        # Verified against when a user does not exist, so a wrong user id costs the same
        # time as a wrong password and log-in does not reveal which ids are taken.
        self._decoy = self._hasher.hash("decoy password, never matches")
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="argon2")
        self._limit = concurrency + waiting
        self.in_use = 0  # hashes running or queued in the pool

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(self._verify, password_hash, password)

    async def burn(self, password: str) -> None:
        """Spend one verification's worth of time (for unknown users)."""
        await self._run(self._verify, self._decoy, password)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        if self.in_use >= self._limit:
            raise RateLimited("too many log-ins in progress, retry", retry_after_ms=BUSY_RETRY_AFTER_MS)
        self.in_use += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self.in_use -= 1

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
