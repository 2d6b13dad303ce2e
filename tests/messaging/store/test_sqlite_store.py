"""SqliteStore beyond the shared contract: schema versioning, persistence across reopen,
group commit, flush on close, and one bad write not failing the others in its group."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kernel.errors import Internal, Unavailable
from messaging.model import CursorKind, Cursors, CursorUpdate, DirectPeer
from messaging.store.sqlite import SqliteStore
from messaging.store.sqlite_schema import MIGRATIONS
from tests.messaging.store.contract import NOW, make_group, message, seqs, user


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "messages.db")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_schema_is_versioned_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    store = SqliteStore(path)
    await store.open()
    await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(Unavailable):
        await SqliteStore(path).open()


async def test_direct_chats_from_before_the_opened_flags_keep_their_presence(tmp_path: Path) -> None:
    """Step 6 records who opened each direct chat; a pair that existed before it was visible
    to both, and stays so (nobody loses a dot they had)."""
    path = tmp_path / "messages.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:3]:
        for statement in step:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO direct_pairs (user_lo, user_hi, conversation_id) VALUES ('alice', 'bob', 1)")
    conn.close()
    store = SqliteStore(path)
    await store.open()
    try:
        assert await store.direct_peers("bob") == [DirectPeer("alice", 1, True, True)]
    finally:
        await store.close()


async def test_data_survives_reopen_and_seqs_continue(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    store = SqliteStore(path)
    await store.open()
    await store.create_user(user("alice"))
    await make_group(store, 1, "alice")
    await store.append([message(1, "alice", "a"), message(1, "alice", "b")])
    await store.advance_cursors([CursorUpdate("alice", 1, CursorKind.READ, 2)])
    await store.close()

    reopened = SqliteStore(path)
    await reopened.open()
    try:
        assert await reopened.get_user("alice") == user("alice")
        assert await reopened.get_cursors("alice", 1) == Cursors("alice", 1, 2, 2)
        (retry, new) = await reopened.append([message(1, "alice", "b"), message(1, "alice", "c")])
        assert (retry.duplicate, retry.message.seq) == (True, 2)
        assert (new.duplicate, new.message.seq) == (False, 3)
        page = await reopened.history(1, anchor_seq=0, direction="after", limit=10, newest_first=False)
        assert seqs(page) == [1, 2, 3]
    finally:
        await reopened.close()


async def test_concurrent_calls_share_commits(store: SqliteStore) -> None:
    await make_group(store, 1, "alice")
    before = store.commits
    calls = 200
    await asyncio.gather(*(store.append([message(1, "alice", f"m{i}")]) for i in range(calls)))
    # All 200 calls are queued within one pass of the event loop; the writer cannot have
    # needed one commit each.
    assert store.commits - before < calls
    assert store.appended >= calls
    assert await store.last_seq(1) == calls


async def test_close_commits_queued_work(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    store = SqliteStore(path)
    await store.open()
    await make_group(store, 1, "alice")
    sends = [asyncio.create_task(store.append([message(1, "alice", f"m{i}")])) for i in range(50)]
    # Tasks start in creation order, so every send is queued before close stops taking work.
    closing = asyncio.create_task(store.close())
    await closing
    outcomes = await asyncio.gather(*sends)
    assert sorted(o.message.seq for (o,) in outcomes) == list(range(1, 51))
    with pytest.raises(Unavailable):
        await store.append([message(1, "alice", "late")])

    reopened = SqliteStore(path)
    await reopened.open()
    try:
        assert await reopened.last_seq(1) == 50
    finally:
        await reopened.close()


async def test_a_failing_write_does_not_fail_its_group(store: SqliteStore) -> None:
    await make_group(store, 1, "alice")

    def broken(conn: sqlite3.Connection) -> None:
        """Writes, then fails: its write must be undone, the others' kept."""
        conn.execute("INSERT INTO users VALUES ('ghost', 'Ghost', 'x', 0)")
        conn.execute("SELECT * FROM no_such_table")

    sends = [store.append([message(1, "alice", f"m{i}")]) for i in range(20)]
    results = await asyncio.gather(
        *sends[:10], store._writer.call(broken), *sends[10:], return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], Internal)
    assert await store.get_user("ghost") is None
    page = await store.history(1, anchor_seq=0, direction="after", limit=50, newest_first=False)
    assert seqs(page) == list(range(1, 21))
    (after,) = await store.append([message(1, "alice", "after")])
    assert after.message.seq == 21


async def test_reads_see_the_newest_commit(store: SqliteStore) -> None:
    await make_group(store, 1, "alice", at=NOW)
    for i in range(30):
        (outcome,) = await store.append([message(1, "alice", f"m{i}", at=NOW + i)])
        assert await store.last_seq(1) == outcome.message.seq
        (summary,) = await store.list_conversations("alice", 5)
        assert summary.last_message == outcome.message


async def test_a_dead_writer_fails_its_callers_instead_of_hanging_them(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_group(store, 1, "alice")

    def die(conn: sqlite3.Connection, items: object) -> None:
        raise SystemExit("writer thread killed")

    monkeypatch.setattr(store._writer, "_process", die)
    with pytest.raises(Unavailable):
        async with asyncio.timeout(30):
            await store.append([message(1, "alice", "lost-writer")])
    with pytest.raises(Unavailable):
        await store.append([message(1, "alice", "after")])
