"""SqliteStore's fencing and P beyond the shared contract: seals and P survive a restart, a
start with another P is refused, and a database from before fencing upgrades in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kernel.errors import InvalidArgument, StaleOwner
from kernel.partitions import DEFAULT_PARTITIONS, partition_of
from messaging.store.sqlite import SqliteStore
from messaging.store.sqlite_schema import MIGRATIONS
from tests.messaging.store.contract import NOW, make_group, message, user


async def test_seals_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    store = SqliteStore(path)
    await store.open()
    await make_group(store, 1)
    await store.seal([(partition_of(1, DEFAULT_PARTITIONS), 4)])
    await store.close()

    reopened = SqliteStore(path)
    await reopened.open()
    try:
        assert await reopened.sealed_epoch(partition_of(1, DEFAULT_PARTITIONS)) == 4
        with pytest.raises(StaleOwner):
            await reopened.append([message(1, "alice", "late", epoch=3)])
        assert await reopened.last_seq(1) == 0
    finally:
        await reopened.close()


async def test_a_start_with_another_partition_count_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    store = SqliteStore(path, partitions=64)
    await store.open()
    await store.close()
    with pytest.raises(InvalidArgument, match="partitions") as refused:
        await SqliteStore(path, partitions=DEFAULT_PARTITIONS).open()
    assert "64" in str(refused.value)
    again = SqliteStore(path, partitions=64)  # the stored P still opens
    await again.open()
    await again.close()


async def test_a_database_from_before_fencing_upgrades_in_place(tmp_path: Path) -> None:
    """Schema 2 (main before issue 9): its messages are epoch 0, seqs continue, seals work."""
    path = tmp_path / "messages.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for target, step in enumerate(MIGRATIONS[:2], start=1):
        for statement in step:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {target}")
    conn.execute(
        "INSERT INTO conversations (conversation_id, kind, title, created_by, created_at_ms, last_seq, "
        "last_activity_ms) VALUES (1, 'group', 'old', 'alice', ?, 1, ?)",
        (NOW, NOW),
    )
    conn.execute("INSERT INTO members VALUES (1, 'alice', 0, ?)", (NOW,))
    conn.execute(
        "INSERT INTO messages (conversation_id, seq, message_id, sender_id, sender_device, client_msg_id, "
        "content_type, body, payload, sent_at_ms) VALUES (1, 1, 77, 'alice', 'phone', 'old-1', "
        "'text/plain', 'before the upgrade', x'00', ?)",
        (NOW,),
    )
    conn.close()

    store = SqliteStore(path)
    await store.open()
    try:
        await store.create_user(user("alice"))
        (old,) = await store.history(1, anchor_seq=0, direction="before", limit=5, newest_first=True)
        assert (old.seq, old.body) == (1, "before the upgrade")
        (retry,) = await store.append([message(1, "alice", "old-1")])
        assert (retry.duplicate, retry.message.seq) == (True, 1)
        await store.seal([(partition_of(1, DEFAULT_PARTITIONS), 1)])
        (new,) = await store.append([message(1, "alice", "new-1", epoch=1)])
        assert new.message.seq == 2
    finally:
        await store.close()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        rows = check.execute("SELECT seq, epoch FROM messages ORDER BY seq").fetchall()
        assert rows == [(1, 0), (2, 1)]
        assert check.execute("SELECT value FROM meta WHERE key = 'partitions'").fetchone() == (
            str(DEFAULT_PARTITIONS),
        )
    check.close()


async def test_a_higher_epoch_row_at_a_seq_hides_the_lower_one(tmp_path: Path) -> None:
    """What a log without conditional writes can hold (a stale owner's late row beside the new
    owner's at one seq): every reader sees the newer epoch's row, never both."""
    path = tmp_path / "messages.db"
    store = SqliteStore(path)
    await store.open()
    await store.create_user(user("alice"))
    await make_group(store, 1, "alice")
    await store.append([message(1, "alice", "e1-a", epoch=1), message(1, "alice", "e1-b", epoch=1)])
    await store.close()
    conn = sqlite3.connect(path, isolation_level=None)  # the late write of a stale owner, at seq 2
    conn.execute(
        "INSERT INTO messages (conversation_id, seq, message_id, sender_id, sender_device, client_msg_id, "
        "content_type, body, payload, sent_at_ms, epoch) VALUES (1, 2, 99, 'alice', 'phone', 'e2-b', "
        "'text/plain', 'the new owner', x'00', ?, 2)",
        (NOW,),
    )
    conn.close()

    store = SqliteStore(path)
    await store.open()
    try:
        for newest_first in (True, False):
            page = await store.history(
                1, anchor_seq=0, direction="before", limit=5, newest_first=newest_first
            )
            assert sorted((m.seq, m.client_msg_id) for m in page) == [(1, "e1-a"), (2, "e2-b")]
        after = await store.history(1, anchor_seq=1, direction="after", limit=5, newest_first=False)
        assert [(m.seq, m.client_msg_id) for m in after] == [(2, "e2-b")]
        ((cid, missed),) = await store.missed_messages("alice", {1: 0}, 10, 10)
        assert (cid, [m.client_msg_id for m in missed]) == (1, ["e1-a", "e2-b"])
        (summary,) = await store.list_conversations("alice", 10)
        assert summary.last_message is not None and summary.last_message.client_msg_id == "e2-b"
        assert await store.last_seq(1) == 2
    finally:
        await store.close()
