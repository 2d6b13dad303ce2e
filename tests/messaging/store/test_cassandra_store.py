"""CassandraStore beyond the shared contracts, on the real Cassandra 1.2: fencing between two
store processes, the schema's migrations and the facts stored with the data, a crash of the
server under traffic (retryable UNAVAILABLE, never an ack; recovery; nothing acked lost)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel

from deploy.cassandra.migrate import main as store_main
from deploy.cassandra.migrate import migrate
from deploy.local_servers.cassandra import DATACENTER, start_cassandra
from kernel.errors import InvalidArgument, StaleOwner, Unavailable
from kernel.partitions import DEFAULT_PARTITIONS, partition_of
from messaging.config import CassandraOptions, MessagingConfig
from messaging.model import Conversation, ConversationSummary, NewMessage
from messaging.server import open_store
from messaging.store.cassandra import CassandraStore
from messaging.store.cassandra.session import consistency_for
from messaging.store.cassandra.store import open_log
from messaging.store.sqlite import SqliteStore
from tests.messaging.store.cassandra_server import empty_tables
from tests.messaging.store.contract import make_group, message, seqs
from tests.messaging.store.contract_deletion import deletion_of

RECOVERY_TIMEOUT_S = 120.0


@pytest.fixture
async def pair(
    cassandra_options: CassandraOptions, tmp_path: Path
) -> AsyncIterator[tuple[CassandraStore, ...]]:
    """Two stores on one keyspace and one directory, as two messaging processes of a cluster."""
    await empty_tables(cassandra_options)
    directory = tmp_path / "directory.db"
    stores = (
        CassandraStore(cassandra_options, SqliteStore(directory)),
        CassandraStore(cassandra_options, SqliteStore(directory)),
    )
    for store in stores:
        await store.open()
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()


async def test_a_stale_owner_in_another_process_is_refused_once_sealed(
    pair: tuple[CassandraStore, ...],
) -> None:
    old, new = pair
    await make_group(old, 1, "alice")
    await old.append([message(1, "alice", "m1", epoch=1)])
    assert await new.seal([(partition_of(1, DEFAULT_PARTITIONS), 2)]) == []
    assert await old.seal([(partition_of(1, DEFAULT_PARTITIONS), 1)]) == [
        (partition_of(1, DEFAULT_PARTITIONS), 2)
    ]
    (fresh,) = await new.append([message(1, "alice", "m2", epoch=2)])
    assert fresh.message.seq == 2  # the new owner numbers on from what the old one stored
    with pytest.raises(StaleOwner):
        await old.append([message(1, "alice", "late", epoch=1)])
    for store in pair:
        page = await store.history(1, anchor_seq=0, direction="before", limit=10, newest_first=False)
        assert [m.client_msg_id for m in page] == ["m1", "m2"]


async def test_a_retry_through_the_new_owner_is_answered_with_the_original(
    pair: tuple[CassandraStore, ...],
) -> None:
    old, new = pair
    await make_group(old, 1, "alice")
    (first,) = await old.append([message(1, "alice", "m1", epoch=1)])
    await new.seal([(partition_of(1, DEFAULT_PARTITIONS), 2)])
    (retry,) = await new.append([message(1, "alice", "m1", body="again", epoch=2)])
    assert (retry.duplicate, retry.message) == (True, first.message)


async def test_the_1_2_path_uses_consistency_one(cassandra_options: CassandraOptions, tmp_path: Path) -> None:
    store = CassandraStore(cassandra_options, SqliteStore(tmp_path / "d.db"))
    await store.open()
    try:
        assert store.consistency == ConsistencyLevel.ONE
    finally:
        await store.close()
    assert consistency_for("auto", 4) == ConsistencyLevel.LOCAL_QUORUM
    assert consistency_for("QUORUM", 1) == ConsistencyLevel.QUORUM


async def test_migrate_applies_once_and_the_store_checks_what_it_stored(
    cassandra_options: CassandraOptions, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host, port = cassandra_options.hosts[0]
    options = dataclasses.replace(cassandra_options, keyspace="hubbub_migrated")
    unmigrated = CassandraStore(options, SqliteStore(tmp_path / "d0.db"))
    with pytest.raises(InvalidArgument, match="hubbub store migrate"):
        await unmigrated.open()

    argv = ["migrate", f"--cassandra-hosts={host}:{port}", "--cassandra-keyspace=hubbub_migrated"]
    argv += ["--protocol-version=1", f"--replication={DATACENTER}:1"]
    assert await asyncio.to_thread(store_main, argv) == 0
    assert "001_initial" in capsys.readouterr().out
    assert await asyncio.to_thread(store_main, argv) == 0
    assert "up to date" in capsys.readouterr().out
    assert await migrate(options, {DATACENTER: 1}) == []

    first = CassandraStore(options, SqliteStore(tmp_path / "d1.db"), partitions=64)
    await first.open()
    await first.close()
    with pytest.raises(InvalidArgument, match="partitions") as refused:
        await CassandraStore(options, SqliteStore(tmp_path / "d2.db")).open()
    assert "64" in str(refused.value)


async def test_a_bad_hosts_option_is_refused_with_its_name(tmp_path: Path) -> None:
    argv = ["migrate", "--cassandra-hosts=db:notaport"]
    assert await asyncio.to_thread(store_main, argv) == 2


async def _append_until_it_succeeds(store: CassandraStore, cid: int, key: str) -> int:
    """The same message, retried while the server is away (a client would do just this)."""
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while True:
        try:
            (outcome,) = await store.append([message(cid, "alice", key)])
            return outcome.message.seq
        except Unavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)  # a client's retry back-off, not a wait for an event


async def test_a_crashed_server_fails_sends_retryably_and_loses_nothing_acked(tmp_path: Path) -> None:
    """kill -9 under traffic: sends fail with retryable UNAVAILABLE (no ack while it is down);
    the store recovers by itself when the server is back; every acked message is there once."""
    server = start_cassandra(tmp_path / "cassandra")
    try:
        options = CassandraOptions(
            hosts=((str(server.info["host"]), int(str(server.info["port"]))),),
            keyspace="hubbub_fault",
            protocol_version=1,
            request_timeout_s=2.0,
        )
        await migrate(options, {DATACENTER: 1}, bucket_seqs=4)
        store = CassandraStore(options, SqliteStore(tmp_path / "d.db"))
        await store.open()
        try:
            await make_group(store, 1, "alice")
            acked = [
                o.message.client_msg_id
                for o in await store.append([message(1, "alice", f"a{i}") for i in range(6)])
            ]
            server.kill()
            with pytest.raises(Unavailable) as down:
                await store.append([message(1, "alice", "while-down")])
            assert down.value.retryable
            ports = tuple(int(p) for p in server.info["ports"])  # type: ignore[attr-defined]
            server = start_cassandra(tmp_path / "cassandra", ports=ports)
            await _append_until_it_succeeds(store, 1, "while-down")
            acked.append("while-down")
            page = await store.history(1, anchor_seq=0, direction="after", limit=100, newest_first=False)
            assert [m.client_msg_id for m in page] == acked
            assert seqs(page) == list(range(1, len(acked) + 1))
        finally:
            await store.close()
    finally:
        server.stop()


async def test_the_configured_store_keeps_messages_in_cassandra_across_restarts(
    cassandra_options: CassandraOptions, tmp_path: Path
) -> None:
    await empty_tables(cassandra_options)
    host, port = cassandra_options.hosts[0]
    config = MessagingConfig(
        data_dir=tmp_path / "data",
        log_backend="cassandra",
        cassandra_hosts=f"{host}:{port}",
        cassandra_keyspace=cassandra_options.keyspace,
        cassandra_protocol_version=1,
    )
    for attempt in range(2):
        store = open_store(config)
        assert isinstance(store, CassandraStore)
        await store.open()
        try:
            if attempt == 0:
                await make_group(store, 1, "alice", "bob")
                await store.append([message(1, "alice", "m1"), message(1, "alice", "m2")])
            page = await store.history(1, anchor_seq=0, direction="before", limit=10, newest_first=False)
            assert [m.client_msg_id for m in page] == ["m1", "m2"]
            (row,) = await store.list_conversations("bob", 10)
            assert (row.unread, row.conversation.last_seq) == (2, 2)
        finally:
            await store.close()
    assert (tmp_path / "data" / "messages.db").exists()  # the directory


async def test_a_stale_owner_whose_write_raced_the_new_owner_is_never_acked(
    pair: tuple[CassandraStore, ...],
) -> None:
    """The old owner's rows land; before it acks, the new owner seals, fences and writes.
    The old owner sees the newer fence after its write and acks nothing; its row, which the
    new owner read as history, is found by the client's retry (nothing lost, nothing twice)."""
    old, new = pair
    await make_group(old, 1, "alice")
    await old.append([message(1, "alice", "m1", epoch=1)])
    rows = old.log_rows()
    write_rows = rows.write_rows

    async def write_then_lose_the_partition(batch: Sequence[tuple[NewMessage, int, int]]) -> None:
        await write_rows(batch)
        await new.seal([(partition_of(1, DEFAULT_PARTITIONS), 2)])
        await new.append([message(1, "alice", "m3", epoch=2)])

    rows.write_rows = write_then_lose_the_partition  # type: ignore[method-assign,assignment]
    with pytest.raises(StaleOwner):
        await old.append([message(1, "alice", "m2", epoch=1)])
    (retry,) = await new.append([message(1, "alice", "m2", epoch=2)])
    assert (retry.duplicate, retry.message.seq) == (True, 2)
    page = await new.history(1, anchor_seq=0, direction="before", limit=10, newest_first=False)
    assert [(m.seq, m.client_msg_id) for m in page] == [(1, "m1"), (2, "m2"), (3, "m3")]


async def test_a_caller_that_gives_up_does_not_fail_the_others(pair: tuple[CassandraStore, ...]) -> None:
    store, _ = pair
    await make_group(store, 1, "alice")
    quitter = asyncio.ensure_future(store.append([message(1, "alice", "quits")]))
    stayer = asyncio.ensure_future(store.append([message(1, "alice", "stays")]))
    await asyncio.sleep(0)  # a yield: both have queued their batch for the same commit
    quitter.cancel()
    (outcome,) = await stayer
    assert not outcome.duplicate
    page = await store.history(1, anchor_seq=0, direction="after", limit=10, newest_first=False)
    assert "stays" in [m.client_msg_id for m in page]


async def test_the_log_caches_stay_at_their_bound_and_numbering_stays_gap_free(
    cassandra_options: CassandraOptions, tmp_path: Path
) -> None:
    """Review finding: the per-conversation caches grew with every conversation ever written.
    With a bound of 3, writing 10 conversations twice over (and a batch across all of them,
    which holds all ten at once) keeps each cache at 3, and every conversation reads 1..3."""
    await empty_tables(cassandra_options)
    bounded = dataclasses.replace(cassandra_options, cache_conversations=3)
    store = CassandraStore(bounded, SqliteStore(tmp_path / "directory.db"))
    await store.open()
    try:
        conversations = range(1, 11)
        for cid in conversations:
            await make_group(store, cid, "alice")
        for round_ in ("a", "b"):
            for cid in conversations:
                await store.append([message(cid, "alice", f"{round_}-{cid}", epoch=0)])
                assert store.log.cached_conversations <= 3
        outcomes = await store.append([message(cid, "alice", f"c-{cid}") for cid in conversations])
        assert [o.message.seq for o in outcomes] == [3] * 10
        assert store.log.cached_conversations == 3
        for cid in conversations:
            page = await store.history(cid, anchor_seq=0, direction="before", limit=10, newest_first=False)
            expected = [(1, f"a-{cid}"), (2, f"b-{cid}"), (3, f"c-{cid}")]
            assert [(m.seq, m.client_msg_id) for m in page] == expected
            assert await store.last_seq(cid) == 3
    finally:
        await store.close()


class _DirectoryThatFailsOnce:
    """The SQLite directory, except that the first record_appends fails after the rows are
    written (a RecordAppends to messaging that did not come back)."""

    def __init__(self, inner: SqliteStore) -> None:
        self.inner = inner
        self.failed = False

    async def get_conversation(self, conversation_id: int) -> Conversation | None:
        return await self.inner.get_conversation(conversation_id)

    async def record_appends(self, heads: Mapping[int, tuple[int, int]]) -> None:
        if not self.failed:
            self.failed = True
            raise Unavailable("messaging is down")
        await self.inner.record_appends(heads)

    async def list_conversations(
        self, user_id: str, limit: int, before_activity_ms: int = 0, before_conversation_id: int = 0,
        max_bytes: int = 0,
    ) -> list[ConversationSummary]:  # fmt: skip
        return await self.inner.list_conversations(user_id, limit, before_activity_ms, before_conversation_id)


async def test_a_retry_raises_the_directory_ends_a_failed_first_commit_left_behind(
    cassandra_options: CassandraOptions, tmp_path: Path
) -> None:
    await empty_tables(cassandra_options)
    directory = SqliteStore(tmp_path / "directory.db")
    await directory.open()
    opened = await open_log(cassandra_options, _DirectoryThatFailsOnce(directory))
    try:
        await make_group(directory, 1, "alice", "bob")
        with pytest.raises(Unavailable):  # the rows landed, the ends did not: no ack
            await opened.log.append([message(1, "alice", "m1")])
        conversation = await directory.get_conversation(1)
        assert conversation is not None and conversation.last_seq == 0
        (retry,) = await opened.log.append([message(1, "alice", "m1")])
        assert (retry.duplicate, retry.message.seq) == (True, 1)
        conversation = await directory.get_conversation(1)
        assert conversation is not None and conversation.last_seq == 1  # bob's list and resume see it
        (row,) = await directory.list_conversations("bob", 10)
        assert row.conversation.last_seq == 1
    finally:
        await opened.close()
        await directory.close()


def _fence_around_the_deletion_entry(old: CassandraStore, new: CassandraStore, *, before: bool) -> None:
    """The new owner seals and fences (by writing m2) just before (or just after) the old
    owner's deletion entry lands."""
    rows = old.log_rows()
    write_rows = rows.write_rows

    async def write(batch: Sequence[tuple[NewMessage, int, int]]) -> None:
        entry = any(item.deletes_seq for item, _, _ in batch)
        if entry and not before:
            await write_rows(batch)
        if entry:
            await new.seal([(partition_of(1, DEFAULT_PARTITIONS), 2)])
            await new.append([message(1, "alice", "m2", epoch=2)])
        if not entry or before:
            await write_rows(batch)

    rows.write_rows = write  # type: ignore[method-assign,assignment]


async def test_a_stale_owners_deletion_erases_nothing_when_a_newer_owner_hides_its_entry(
    pair: tuple[CassandraStore, ...],
) -> None:
    """The new owner fences while the old one's deletion commit runs, before its entry lands:
    the entry is hidden, so the message it names stays whole (never erased with no deletion
    any reader sees); the edge's reroute of the refused deletion deletes it."""
    old, new = pair
    await make_group(old, 1, "alice")
    await old.append([message(1, "alice", "m1", body="keep", epoch=1)])
    _fence_around_the_deletion_entry(old, new, before=True)
    with pytest.raises(StaleOwner):
        await old.append([deletion_of(1, 1, epoch=1)])
    page = await new.history(1, anchor_seq=0, direction="before", limit=10, newest_first=False)
    assert [(m.seq, m.body, m.deleted) for m in page] == [(1, "keep", False), (2, "hi", False)]
    (rerouted,) = await new.append([deletion_of(1, 1, epoch=2)])
    assert (rerouted.message.seq, rerouted.duplicate) == (3, False)
    page = await new.history(1, anchor_seq=0, direction="before", limit=10, newest_first=False)
    assert [(m.seq, m.body, m.deleted_by_seq) for m in page] == [(1, "", 3), (2, "hi", 0), (3, "", 0)]


async def test_a_stale_owners_deletion_whose_entry_the_newer_owner_sees_erases_its_message(
    pair: tuple[CassandraStore, ...],
) -> None:
    """The new owner fences just after the old one's deletion entry landed, so it reads the
    entry as history: the message it names is erased, and the reroute is answered with it."""
    old, new = pair
    await make_group(old, 1, "alice")
    await old.append([message(1, "alice", "m1", body="erase me", epoch=1)])
    _fence_around_the_deletion_entry(old, new, before=False)
    with pytest.raises(StaleOwner):
        await old.append([deletion_of(1, 1, epoch=1)])
    page = await new.history(1, anchor_seq=0, direction="before", limit=10, newest_first=False)
    assert [(m.seq, m.body, m.deleted_by_seq, m.deletes_seq) for m in page] == [
        (1, "", 2, 0),
        (2, "", 0, 1),
        (3, "hi", 0, 0),
    ]
    (rerouted,) = await new.append([deletion_of(1, 1, epoch=2)])
    assert (rerouted.message.seq, rerouted.duplicate) == (2, True)
