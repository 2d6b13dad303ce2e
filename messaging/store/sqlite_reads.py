"""Read queries of the SQLite store, run on read-only connections in the reader pool.

Every query is served by an index; unread counts come from last_seq and cursors, never a count.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kernel.message_log import MissedAsk
from messaging.model import (
    Conversation,
    ConversationKind,
    ConversationSummary,
    Cursors,
    DirectPeer,
    Member,
    PresenceRelations,
    Role,
    StoredMessage,
    User,
)
from messaging.store.interface import HistoryDirection
from messaging.store.read_budget import ReadBudget
from messaging.store.sqlite_append import BY_DEDUPE_KEY, MESSAGE_COLUMNS, stored_from_row

CONVERSATION_COLUMNS = (
    "c.conversation_id, c.kind, c.title, c.created_by, c.created_at_ms, c.last_seq, c.last_activity_ms"
)
_MAX_SEQ = (1 << 63) - 1


def conversation_from_row(row: tuple[Any, ...]) -> Conversation:
    return Conversation(row[0], ConversationKind(row[1]), row[2], row[3], row[4], row[5], row[6])


def get_user(conn: sqlite3.Connection, user_id: str) -> User | None:
    row = conn.execute(
        "SELECT user_id, display_name, password_hash, created_at_ms FROM users WHERE user_id = ?",
        (user_id,),
    ).fetchone()
    return None if row is None else User(*row)


def list_contacts(conn: sqlite3.Connection, owner_id: str) -> list[str]:
    rows = conn.execute("SELECT contact_id FROM contacts WHERE owner_id = ? ORDER BY contact_id", (owner_id,))
    return [r[0] for r in rows]


def contact_of(conn: sqlite3.Connection, user_id: str) -> list[str]:
    rows = conn.execute("SELECT owner_id FROM contacts WHERE contact_id = ? ORDER BY owner_id", (user_id,))
    return [r[0] for r in rows]


def token_generations(conn: sqlite3.Connection, user_ids: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(user_ids), 500):  # well below SQLite's bound-parameter limit
        chunk = list(user_ids[start : start + 500])
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(
            "SELECT u.user_id, COALESCE(g.generation, 0) FROM users u "
            f"LEFT JOIN token_generations g ON g.user_id = u.user_id WHERE u.user_id IN ({marks})",
            chunk,
        )
        found.update((r[0], r[1]) for r in rows)
    return found


def get_conversation(conn: sqlite3.Connection, conversation_id: int) -> Conversation | None:
    row = conn.execute(
        f"SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.conversation_id = ?",
        (conversation_id,),
    ).fetchone()
    return None if row is None else conversation_from_row(row)


def get_members(conn: sqlite3.Connection, conversation_id: int) -> list[Member]:
    rows = conn.execute(
        "SELECT user_id, role, joined_at_ms FROM members WHERE conversation_id = ? ORDER BY user_id",
        (conversation_id,),
    )
    return [Member(r[0], Role(r[1]), r[2]) for r in rows]


def direct_peers(conn: sqlite3.Connection, user_id: str) -> list[DirectPeer]:
    """Both sides of the pair table, each by its index (the primary key, direct_pairs_by_hi)."""
    rows = conn.execute(
        "SELECT user_hi, conversation_id, lo_opened, hi_opened FROM direct_pairs WHERE user_lo = ? "
        "UNION ALL "
        "SELECT user_lo, conversation_id, hi_opened, lo_opened FROM direct_pairs WHERE user_hi = ? "
        "ORDER BY 1",
        (user_id, user_id),
    )
    return [DirectPeer(r[0], r[1], bool(r[2]), bool(r[3])) for r in rows]


def presence_relations(conn: sqlite3.Connection, user_id: str) -> PresenceRelations:
    """The three reads the presence rule needs, on one connection (one hop to the reader pool)."""
    return PresenceRelations(
        list_contacts(conn, user_id), contact_of(conn, user_id), direct_peers(conn, user_id)
    )


# At each seq the row of the highest epoch is the message (kernel/log_rules.winners): a row
# some newer owner's row shadows is never read. One probe of the (conversation, seq, epoch)
# index per row; through this store's writer no seq has two rows (it checks the seal).
_WINNER = (
    "NOT EXISTS (SELECT 1 FROM messages AS newer WHERE newer.conversation_id = messages.conversation_id "
    "AND newer.seq = messages.seq AND newer.epoch > messages.epoch)"
)


def original(conn: sqlite3.Connection, sender_id: str, client_msg_id: str) -> StoredMessage | None:
    row = conn.execute(BY_DEDUPE_KEY, (sender_id, client_msg_id)).fetchone()
    return None if row is None else stored_from_row(row)


def last_seq(conn: sqlite3.Connection, conversation_id: int) -> int:
    row = conn.execute(
        "SELECT last_seq FROM conversations WHERE conversation_id = ?", (conversation_id,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def history(
    conn: sqlite3.Connection,
    conversation_id: int,
    anchor_seq: int,
    direction: HistoryDirection,
    limit: int,
    newest_first: bool,
    max_bytes: int = 0,
) -> list[StoredMessage]:
    """The `limit` messages nearest the anchor (fewer past `max_bytes`), fetched nearest-first
    and then put in order."""
    if limit <= 0:
        return []
    if direction == "before":
        anchor = anchor_seq if anchor_seq > 0 else _MAX_SEQ
        sql = "seq < ? ORDER BY seq DESC"
        nearest_first_is_newest = True
    else:
        anchor = anchor_seq
        sql = "seq > ? ORDER BY seq ASC"
        nearest_first_is_newest = False
    cursor = conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND {_WINNER} AND {sql} LIMIT ?",
        (conversation_id, anchor, limit),
    )
    try:  # stepped lazily: rows past the budget are never loaded
        messages = ReadBudget(max_bytes).take(map(stored_from_row, cursor))
    finally:
        cursor.close()
    if newest_first != nearest_first_is_newest:
        messages.reverse()
    return messages


def get_cursors(conn: sqlite3.Connection, user_id: str, conversation_id: int) -> Cursors:
    row = conn.execute(
        "SELECT delivered_seq, read_seq FROM cursors WHERE conversation_id = ? AND user_id = ?",
        (conversation_id, user_id),
    ).fetchone()
    if row is None:
        return Cursors(user_id, conversation_id)
    return Cursors(user_id, conversation_id, row[0], row[1])


def all_cursors(conn: sqlite3.Connection, conversation_id: int) -> list[Cursors]:
    rows = conn.execute(
        "SELECT user_id, delivered_seq, read_seq FROM cursors WHERE conversation_id = ? ORDER BY user_id",
        (conversation_id,),
    )
    return [Cursors(r[0], conversation_id, r[1], r[2]) for r in rows]


def list_conversations(
    conn: sqlite3.Connection,
    user_id: str,
    limit: int,
    before_activity_ms: int,
    before_conversation_id: int,
    max_bytes: int = 0,
) -> list[ConversationSummary]:
    """The user's memberships joined to conversations, newest activity first (ties by id,
    highest first: the paging key is the pair); one snapshot. Last messages are read only
    up to `max_bytes` (messaging/store/read_budget.py)."""
    if limit <= 0:
        return []
    before = before_activity_ms if before_activity_ms > 0 else _MAX_SEQ
    conn.execute("BEGIN")
    try:
        rows = conn.execute(
            f"SELECT {CONVERSATION_COLUMNS}, cur.delivered_seq, cur.read_seq, "
            # A direct row's peer, by the members primary key, in the same query (no N+1).
            "(SELECT o.user_id FROM members o WHERE c.kind = ? "
            "AND o.conversation_id = m.conversation_id AND o.user_id <> m.user_id LIMIT 1) "
            "FROM members m "
            "JOIN conversations c ON c.conversation_id = m.conversation_id "
            "LEFT JOIN cursors cur ON cur.conversation_id = m.conversation_id "
            "AND cur.user_id = m.user_id "
            "WHERE m.user_id = ? AND (c.last_activity_ms < ? "
            "OR (c.last_activity_ms = ? AND c.conversation_id < ?)) "
            "ORDER BY c.last_activity_ms DESC, c.conversation_id DESC LIMIT ?",
            (ConversationKind.DIRECT.value, user_id, before, before, before_conversation_id, limit),
        ).fetchall()

        def summaries() -> Iterator[ConversationSummary]:  # lazily: rows past the budget are not read
            for row in rows:
                conversation = conversation_from_row(row)
                last_message: StoredMessage | None = None
                if conversation.last_seq > 0:
                    found = conn.execute(
                        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND seq = ? "
                        "ORDER BY epoch DESC LIMIT 1",
                        (conversation.conversation_id, conversation.last_seq),
                    ).fetchone()
                    last_message = None if found is None else stored_from_row(found)
                cursors = Cursors(user_id, conversation.conversation_id, row[7] or 0, row[8] or 0)
                yield ConversationSummary(conversation, last_message, cursors, row[9] or "")

        listed = ReadBudget(max_bytes).take_summaries(summaries())
    finally:
        conn.execute("COMMIT")
    return listed


def missed_messages(
    conn: sqlite3.Connection,
    user_id: str,
    since: Mapping[int, int],
    limit: int,
    max_conversations: int,
    max_bytes: int = 0,
    max_pages: int = 0,
) -> list[tuple[int, list[StoredMessage]]]:
    """Resume's reads in one snapshot: the memberships with their last seq and delivered
    cursor, then one range read per conversation that has anything after the device's seq
    (none once `max_bytes` or `max_pages` is spent: those are listed with no messages)."""
    budget = ReadBudget(max_bytes, max_pages)
    if limit <= 0 or max_conversations <= 0:
        return []
    conn.execute("BEGIN")
    try:
        rows = conn.execute(
            "SELECT c.conversation_id, c.last_seq, cur.delivered_seq FROM members m "
            "JOIN conversations c ON c.conversation_id = m.conversation_id "
            "LEFT JOIN cursors cur ON cur.conversation_id = m.conversation_id "
            "AND cur.user_id = m.user_id "
            "WHERE m.user_id = ? "
            "ORDER BY c.last_activity_ms DESC, c.conversation_id DESC LIMIT ?",
            (user_id, max_conversations),
        ).fetchall()
        missed: list[tuple[int, list[StoredMessage]]] = []
        for cid, last, delivered in rows:
            after = since.get(cid, delivered or 0)
            if last > after and budget.done:
                missed.append((cid, []))
            elif last > after:
                cursor = conn.execute(
                    f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND seq > ? "
                    f"AND {_WINNER} ORDER BY seq ASC LIMIT ?",
                    (cid, after, limit),
                )
                try:
                    found = budget.take(map(stored_from_row, cursor))
                finally:
                    cursor.close()
                if found:
                    missed.append((cid, found))
    finally:
        conn.execute("COMMIT")
    return missed


def missed_messages_many(
    conn: sqlite3.Connection,
    asks: Sequence[MissedAsk],
    max_conversations: int,
    max_bytes: int,
    max_pages: int,
    max_total_bytes: int,
) -> list[list[tuple[int, list[StoredMessage]]]]:
    """missed_messages of each ask in order, each in its own snapshot, on one connection (one
    hop to the reader pool for the batch), stopping once `max_total_bytes` (> 0) is passed."""
    answers: list[list[tuple[int, list[StoredMessage]]]] = []
    spent = 0
    for user_id, since, limit in asks:
        if answers and 0 < max_total_bytes < spent:
            break
        answers.append(missed_messages(conn, user_id, since, limit, max_conversations, max_bytes, max_pages))
        spent += ReadBudget.missed_size(answers[-1])
    return answers


def sealed_epoch(conn: sqlite3.Connection, partition: int) -> int:
    row = conn.execute("SELECT epoch FROM seals WHERE partition = ?", (partition,)).fetchone()
    return 0 if row is None else int(row[0])
