"""Push targets on SQLite (kernel/push_targets.py): the statements and the store's methods.
(service, token) is unique (migration 8): a registration takes the token from its holder."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from kernel.push_targets import PushService, PushTarget
from messaging.store.sqlite_base import SqliteBase

_COLUMNS = "user_id, device_id, service, token, apns_topic, apns_sandbox, p256dh, auth, created_at_ms"


def _put(conn: sqlite3.Connection, target: PushTarget, max_per_user: int) -> bool:
    known = conn.execute(
        "SELECT 1 FROM push_targets WHERE user_id = ? AND device_id = ?", (target.user_id, target.device_id)
    ).fetchone()
    if known is None:
        # A device of this user whose token moves here frees its place under the cap.
        (count,) = conn.execute(
            "SELECT count(*) FROM push_targets WHERE user_id = ? AND NOT (service = ? AND token = ?)",
            (target.user_id, target.service.value, target.token),
        ).fetchone()
        if count >= max_per_user:
            return False
    # The token moved (a reinstall, a device handed on): whoever held it loses it.
    conn.execute(
        "DELETE FROM push_targets WHERE service = ? AND token = ? AND NOT (user_id = ? AND device_id = ?)",
        (target.service.value, target.token, target.user_id, target.device_id),
    )
    conn.execute(
        f"INSERT OR REPLACE INTO push_targets ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            target.user_id,
            target.device_id,
            target.service.value,
            target.token,
            target.apns_topic,
            int(target.apns_sandbox),
            target.p256dh,
            target.auth,
            target.created_at_ms,
        ),
    )
    return True


def _of_users(conn: sqlite3.Connection, user_ids: Sequence[str]) -> list[PushTarget]:
    found: list[PushTarget] = []
    for user_id in sorted(set(user_ids)):
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM push_targets WHERE user_id = ? ORDER BY device_id", (user_id,)
        )
        found.extend(
            PushTarget(u, d, PushService(s), tok, topic, bool(sandbox), p256dh, auth, at)
            for u, d, s, tok, topic, sandbox, p256dh, auth, at in rows
        )
    return found


def _delete(conn: sqlite3.Connection, user_id: str, device_id: str) -> bool:
    cursor = conn.execute(
        "DELETE FROM push_targets WHERE user_id = ? AND device_id = ?", (user_id, device_id)
    )
    return cursor.rowcount > 0


def _remove_gone(conn: sqlite3.Connection, target: PushTarget) -> bool:
    cursor = conn.execute(
        "DELETE FROM push_targets WHERE user_id = ? AND device_id = ? AND token = ?",
        (target.user_id, target.device_id, target.token),
    )
    return cursor.rowcount > 0


class SqlitePushTargets(SqliteBase):
    async def put_push_target(self, target: PushTarget, max_per_user: int) -> bool:
        return await self._writer.call(lambda c: _put(c, target, max_per_user))

    async def push_targets(self, user_ids: Sequence[str]) -> list[PushTarget]:
        return await self._read(lambda c: _of_users(c, user_ids))

    async def delete_push_target(self, user_id: str, device_id: str) -> bool:
        return await self._writer.call(lambda c: _delete(c, user_id, device_id))

    async def remove_gone_push_target(self, target: PushTarget) -> bool:
        return await self._writer.call(lambda c: _remove_gone(c, target))
