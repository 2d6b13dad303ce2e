"""Password hashing with argon2id, off the event loop: a hash costs tens of milliseconds of
CPU by design, so it runs in a worker thread while the loop keeps serving other calls."""

from __future__ import annotations

import asyncio

import argon2
from argon2.exceptions import InvalidHashError, VerificationError


class PasswordHasher:
    """Costs come from config; tests pass tiny ones (time_cost=1, memory_cost=8 KiB)."""

    def __init__(self, *, time_cost: int, memory_cost_kib: int, parallelism: int) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism
        )
        # Verified against when a user does not exist, so a wrong user id costs the same
        # time as a wrong password and log-in does not reveal which ids are taken.
        self._decoy = self._hasher.hash("decoy password, never matches")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    async def burn(self, password: str) -> None:
        """Spend one verification's worth of time (for unknown users)."""
        await asyncio.to_thread(self._verify, self._decoy, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
