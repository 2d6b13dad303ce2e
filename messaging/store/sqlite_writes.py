"""Write operations of the SQLite store, run by the group-commit writer inside its transaction.

Each raises a HubbubError only before writing anything, so a rejected call never disturbs the
other callers sharing its transaction (see sqlite_writer.WriteOp).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar

from kernel.errors import Conflict
from kernel.log_rules import advance_cursor
from messaging.model import (
    Conversation,
    ConversationKind,
    CursorChange,
    CursorKind,
    Cursors,
    CursorUpdate,
    Member,
    Role,
    User,
)
from messaging.store.sqlite_reads import CONVERSATION_COLUMNS, conversation_from_row

_T = TypeVar("_T")

_INSERT_MEMBER = (
    "INSERT OR IGNORE INTO members (conversation_id, user_id, role, joined_at_ms) VALUES (?, ?, ?, ?)"
)


def create_user(conn: sqlite3.Connection, user: User) -> None:
    if conn.execute("SELECT 1 FROM users WHERE user_id = ?", (user.user_id,)).fetchone():
        raise Conflict(f"user id {user.user_id!r} is taken")
    conn.execute(
        "INSERT INTO users (user_id, display_name, password_hash, created_at_ms) VALUES (?, ?, ?, ?)",
        (user.user_id, user.display_name, user.password_hash, user.created_at_ms),
    )


def update_display_name(conn: sqlite3.Connection, user_id: str, display_name: str) -> User | None:
    row = conn.execute(
        "UPDATE users SET display_name = ? WHERE user_id = ? "
        "RETURNING user_id, display_name, password_hash, created_at_ms",
        (display_name, user_id),
    ).fetchone()
    return None if row is None else User(*row)


def add_contact(conn: sqlite3.Connection, owner_id: str, contact_id: str) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO contacts (owner_id, contact_id) VALUES (?, ?)", (owner_id, contact_id)
    )


def bump_token_generation(conn: sqlite3.Connection, user_id: str) -> int | None:
    if conn.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone() is None:
        return None
    row = conn.execute(
        "INSERT INTO token_generations (user_id, generation) VALUES (?, 1) "
        "ON CONFLICT (user_id) DO UPDATE SET generation = generation + 1 RETURNING generation",
        (user_id,),
    ).fetchone()
    return int(row[0])


def remove_contact(conn: sqlite3.Connection, owner_id: str, contact_id: str) -> None:
    conn.execute("DELETE FROM contacts WHERE owner_id = ? AND contact_id = ?", (owner_id, contact_id))


def _insert_conversation(conn: sqlite3.Connection, c: Conversation) -> Conversation:
    """New conversations start with no messages and their creation as their last activity."""
    if conn.execute("SELECT 1 FROM conversations WHERE conversation_id = ?", (c.conversation_id,)).fetchone():
        raise Conflict(f"conversation id {c.conversation_id} is taken")
    activity = max(c.last_activity_ms, c.created_at_ms)
    conn.execute(
        "INSERT INTO conversations (conversation_id, kind, title, created_by, created_at_ms, "
        "last_seq, last_activity_ms) VALUES (?, ?, ?, ?, ?, 0, ?)",
        (c.conversation_id, c.kind.value, c.title, c.created_by, c.created_at_ms, activity),
    )
    return Conversation(c.conversation_id, c.kind, c.title, c.created_by, c.created_at_ms, 0, activity)


def record_appends(conn: sqlite3.Connection, heads: Mapping[int, tuple[int, int]]) -> None:
    conn.executemany(
        "UPDATE conversations SET last_seq = MAX(last_seq, ?), last_activity_ms = MAX(last_activity_ms, ?) "
        "WHERE conversation_id = ?",
        [(last_seq, activity_ms, cid) for cid, (last_seq, activity_ms) in heads.items()],
    )


def get_or_create_direct(
    conn: sqlite3.Connection, user_a: str, user_b: str, conversation_id: int, now_ms: int
) -> tuple[Conversation, bool]:
    lo, hi = sorted((user_a, user_b))
    row = conn.execute(
        f"SELECT {CONVERSATION_COLUMNS} FROM direct_pairs d "
        "JOIN conversations c ON c.conversation_id = d.conversation_id "
        "WHERE d.user_lo = ? AND d.user_hi = ?",
        (lo, hi),
    ).fetchone()
    opened = "lo_opened" if user_a == lo else "hi_opened"  # a fixed column name, never input
    if row is not None:
        conn.execute(
            f"UPDATE direct_pairs SET {opened} = 1 WHERE user_lo = ? AND user_hi = ? AND {opened} = 0",
            (lo, hi),
        )
        return conversation_from_row(row), False
    conversation = _insert_conversation(
        conn, Conversation(conversation_id, ConversationKind.DIRECT, "", user_a, now_ms)
    )
    conn.execute(
        "INSERT INTO direct_pairs (user_lo, user_hi, conversation_id, lo_opened, hi_opened) "
        "VALUES (?, ?, ?, ?, ?)",
        (lo, hi, conversation_id, int(user_a == lo), int(user_a == hi)),
    )
    conn.executemany(_INSERT_MEMBER, [(conversation_id, u, int(Role.MEMBER), now_ms) for u in (lo, hi)])
    return conversation, True


def create_group(conn: sqlite3.Connection, conversation: Conversation, members: Sequence[Member]) -> None:
    _insert_conversation(conn, conversation)
    conn.executemany(
        _INSERT_MEMBER,
        [(conversation.conversation_id, m.user_id, int(m.role), m.joined_at_ms) for m in members],
    )


def add_members(conn: sqlite3.Connection, conversation_id: int, members: Sequence[Member]) -> list[Member]:
    """Nothing is added to an unknown conversation (no orphan memberships)."""
    known = conn.execute("SELECT 1 FROM conversations WHERE conversation_id = ?", (conversation_id,))
    if known.fetchone() is None:
        return []
    added: list[Member] = []
    for m in members:
        cur = conn.execute(_INSERT_MEMBER, (conversation_id, m.user_id, int(m.role), m.joined_at_ms))
        if cur.rowcount == 1:
            added.append(m)
    return added


def remove_member(conn: sqlite3.Connection, conversation_id: int, user_id: str) -> bool:
    cur = conn.execute(
        "DELETE FROM members WHERE conversation_id = ? AND user_id = ?", (conversation_id, user_id)
    )
    return cur.rowcount > 0


def set_role(conn: sqlite3.Connection, conversation_id: int, user_id: str, role: Role) -> bool:
    cur = conn.execute(
        "UPDATE members SET role = ? WHERE conversation_id = ? AND user_id = ?",
        (int(role), conversation_id, user_id),
    )
    return cur.rowcount > 0


def rename(conn: sqlite3.Connection, conversation_id: int, title: str) -> bool:
    cur = conn.execute(
        "UPDATE conversations SET title = ? WHERE conversation_id = ?", (title, conversation_id)
    )
    return cur.rowcount > 0


# A chunk of keys per statement: far below SQLite's variable limit, few distinct statements.
_CURSOR_CHUNK = 256


@functools.cache
def _select_cursors_sql(keys: int) -> str:
    """The current cursors of `keys` (conversation_id, user_id) pairs as ONE json row: the
    sqlite3 module drops and retakes the GIL on every step, and the event loop wants it too."""
    values = ", ".join(["(?, ?)"] * keys)
    return (
        "SELECT json_group_array(json_array(c.conversation_id, c.user_id, c.delivered_seq, c.read_seq)) "
        f"FROM (VALUES {values}) AS v "
        "JOIN cursors c ON c.conversation_id = v.column1 AND c.user_id = v.column2"
    )


@functools.cache
def _upsert_cursors_sql(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?)"] * rows)
    return (
        f"INSERT INTO cursors (conversation_id, user_id, delivered_seq, read_seq) VALUES {values} "
        "ON CONFLICT (conversation_id, user_id) "
        "DO UPDATE SET delivered_seq = excluded.delivered_seq, read_seq = excluded.read_seq"
    )


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for i in range(0, len(items), _CURSOR_CHUNK):
        yield items[i : i + _CURSOR_CHUNK]


def advance_cursors(conn: sqlite3.Connection, updates: Sequence[CursorUpdate]) -> list[CursorChange]:
    """Monotonic per cursor; reading up to N implies delivered up to N. Updates apply in order
    (each sees the ones before it); each moved cursor is written once, at its final value."""
    keys = list(dict.fromkeys((u.conversation_id, u.user_id) for u in updates))
    current: dict[tuple[int, str], tuple[int, int]] = {}
    for chunk in _chunks(keys):
        (found,) = conn.execute(_select_cursors_sql(len(chunk)), [v for key in chunk for v in key]).fetchone()
        for cid, user_id, delivered, read in json.loads(found):
            current[(int(cid), str(user_id))] = (int(delivered), int(read))
    changes: list[CursorChange] = []
    written: dict[tuple[int, str], tuple[int, int]] = {}
    for u in updates:
        key = (u.conversation_id, u.user_id)
        delivered, read = current.get(key, (0, 0))
        delivered, read, moved = advance_cursor(delivered, read, is_read=u.kind == CursorKind.READ, seq=u.seq)
        if moved:
            current[key] = written[key] = (delivered, read)
        changes.append(CursorChange(Cursors(u.user_id, u.conversation_id, delivered, read), moved))
    rows = [(cid, user_id, delivered, read) for (cid, user_id), (delivered, read) in written.items()]
    for part in _chunks(rows):
        conn.execute(_upsert_cursors_sql(len(part)), [v for row in part for v in row])
    return changes
