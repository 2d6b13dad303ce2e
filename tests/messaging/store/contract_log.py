"""The MessageLog contract (kernel/message_log.py): numbering, dedupe, durability, reads
within their budgets, fencing by epoch.

A test module subclasses the suite; the `store` fixture (conftest.py) is every backend in turn.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import replace

import pytest

from kernel.errors import NotFound, StaleOwner
from kernel.partitions import DEFAULT_PARTITIONS, partition_of
from messaging.model import CursorKind, CursorUpdate, StoredMessage
from messaging.store.interface import MessageStore
from tests.messaging.store.conftest import LateWrite
from tests.messaging.store.contract import NOW, fill, make_group, message, seqs


class LogContract:
    """Subclasses get `store`: an opened backend, closed after the test."""

    # ------------------------------------------------------------------ messages
    async def test_append_assigns_gap_free_seqs_in_input_order(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice")
        await make_group(store, 2, "alice")
        batch = [message(1, "alice", "a"), message(2, "alice", "b"), message(1, "alice", "c")]
        outcomes = await store.append(batch)
        assert [(o.message.conversation_id, o.message.seq, o.duplicate) for o in outcomes] == [
            (1, 1, False),
            (2, 1, False),
            (1, 2, False),
        ]
        for new, outcome in zip(batch, outcomes, strict=True):
            stored = outcome.message
            assert (stored.message_id, stored.sender_id, stored.sender_device, stored.client_msg_id) == (
                new.message_id,
                new.sender_id,
                new.sender_device,
                new.client_msg_id,
            )
            assert (stored.content_type, stored.body, stored.payload, stored.sent_at_ms) == (
                new.content_type,
                new.body,
                new.payload,
                new.sent_at_ms,
            )
        later = await store.append([message(1, "alice", "d"), message(1, "alice", "e")])
        assert [o.message.seq for o in later] == [3, 4]
        assert await store.last_seq(1) == 4
        assert await store.last_seq(2) == 1

    async def test_appended_messages_read_back_identically(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice")
        big = message(1, "alice", "big", body="ü" * 100_000)
        outcomes = await store.append([big, message(1, "alice", "small")])
        page = await store.history(1, anchor_seq=0, direction="before", limit=10, newest_first=False)
        assert page == [o.message for o in outcomes]

    async def test_a_messages_media_reference_reads_back(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice")
        media = b"\x0a\x0bserialized-ref"
        (outcome,) = await store.append([replace(message(1, "alice", "photo"), media=media)])
        assert outcome.message.media == media
        page = await store.history(1, anchor_seq=0, direction="before", limit=10, newest_first=False)
        assert [m.media for m in page] == [media]

    async def test_concurrent_appends_are_gap_free(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice")
        await make_group(store, 2, "alice")

        async def send(caller: int) -> list[tuple[int, int]]:
            batch = [message(1 + (caller + i) % 2, f"u{caller}", f"c{caller}-{i}") for i in range(4)]
            return [(o.message.conversation_id, o.message.seq) for o in await store.append(batch)]

        results = await asyncio.gather(*(send(caller) for caller in range(50)))
        by_conversation: dict[int, list[int]] = defaultdict(list)
        for result in results:
            for conversation_id in (1, 2):
                mine = [seq for cid, seq in result if cid == conversation_id]
                assert mine == sorted(mine)  # one call's messages keep input order
                by_conversation[conversation_id].extend(mine)
        for conversation_id, assigned in by_conversation.items():
            assert sorted(assigned) == list(range(1, 101))
            assert await store.last_seq(conversation_id) == 100
            page = await store.history(
                conversation_id, anchor_seq=0, direction="after", limit=200, newest_first=False
            )
            assert seqs(page) == list(range(1, 101))

    async def test_retry_returns_the_original_and_stores_nothing(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice")
        (first,) = await store.append([message(1, "alice", "m1", body="original")])
        (retry,) = await store.append([message(1, "alice", "m1", body="changed")])
        assert retry.duplicate
        assert retry.message == first.message
        assert await store.last_seq(1) == 1
        (next_one,) = await store.append([message(1, "alice", "m2")])
        assert (next_one.message.seq, next_one.duplicate) == (2, False)

    async def test_the_original_of_a_dedupe_key_is_the_stored_message(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice", "bob")
        (first,) = await store.append([message(1, "alice", "m1", body="original")])
        assert await store.original("alice", "m1") == first.message
        assert await store.original("bob", "m1") is None  # the key is sender and client_msg_id
        assert await store.original("alice", "m2") is None

    async def test_retry_within_one_batch(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice")
        outcomes = await store.append(
            [
                message(1, "alice", "m1", body="one"),
                message(1, "alice", "m1", body="two"),
                message(1, "alice", "m2"),
            ]
        )
        assert [(o.message.seq, o.duplicate) for o in outcomes] == [(1, False), (1, True), (2, False)]
        assert outcomes[1].message == outcomes[0].message
        page = await store.history(1, anchor_seq=0, direction="before", limit=10, newest_first=False)
        assert [(m.seq, m.body) for m in page] == [(1, "one"), (2, "hi")]

    async def test_concurrent_retries_store_once(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice")
        outcomes = await asyncio.gather(*(store.append([message(1, "alice", "same")]) for _ in range(10)))
        flat = [o for result in outcomes for o in result]
        assert sum(not o.duplicate for o in flat) == 1
        assert {o.message.seq for o in flat} == {1}
        assert await store.last_seq(1) == 1

    async def test_dedupe_key_is_sender_and_client_msg_id(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice", "bob")
        outcomes = await store.append([message(1, "alice", "x"), message(1, "bob", "x")])
        assert [(o.message.seq, o.duplicate) for o in outcomes] == [(1, False), (2, False)]

    async def test_append_to_unknown_conversation_is_not_found(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice")
        with pytest.raises(NotFound):
            await store.append([message(1, "alice", "ok"), message(999, "alice", "lost")])
        assert await store.last_seq(1) == 0
        assert await store.last_seq(999) == 0
        (outcome,) = await store.append([message(1, "alice", "ok")])
        assert (outcome.message.seq, outcome.duplicate) == (1, False)

    async def test_append_moves_last_seq_and_activity(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice", at=NOW)
        await store.append([message(1, "alice", "a", at=NOW + 50), message(1, "alice", "b", at=NOW + 20)])
        conversation = await store.get_conversation(1)
        assert conversation is not None
        assert (conversation.last_seq, conversation.last_activity_ms) == (2, NOW + 50)

    async def test_empty_append(self, store: MessageStore) -> None:
        assert await store.append([]) == []

    # ------------------------------------------------------------------- history
    async def test_history_before(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice")
        await fill(store, 1, 10)

        async def before(anchor: int, limit: int, newest_first: bool) -> list[int]:
            return seqs(
                await store.history(
                    1, anchor_seq=anchor, direction="before", limit=limit, newest_first=newest_first
                )
            )

        assert await before(0, 3, False) == [8, 9, 10]
        assert await before(0, 3, True) == [10, 9, 8]
        assert await before(5, 3, False) == [2, 3, 4]
        assert await before(5, 3, True) == [4, 3, 2]
        assert await before(2, 5, False) == [1]
        assert await before(1, 5, False) == []
        assert await before(11, 100, False) == list(range(1, 11))
        assert await before(1_000_000, 2, False) == [9, 10]
        assert await before(0, 0, False) == []

    async def test_history_after(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice")
        await fill(store, 1, 10)

        async def after(anchor: int, limit: int, newest_first: bool) -> list[int]:
            return seqs(
                await store.history(
                    1, anchor_seq=anchor, direction="after", limit=limit, newest_first=newest_first
                )
            )

        assert await after(0, 3, False) == [1, 2, 3]
        assert await after(0, 3, True) == [3, 2, 1]
        assert await after(4, 3, False) == [5, 6, 7]
        assert await after(4, 3, True) == [7, 6, 5]
        assert await after(8, 5, False) == [9, 10]
        assert await after(10, 5, False) == []
        assert await after(0, 0, False) == []

    async def test_history_is_per_conversation(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice")
        await make_group(store, 2, "alice")
        await fill(store, 1, 3)
        await fill(store, 2, 2)
        page = await store.history(2, anchor_seq=0, direction="before", limit=10, newest_first=False)
        assert [(m.conversation_id, m.seq) for m in page] == [(2, 1), (2, 2)]
        assert await store.history(999, anchor_seq=0, direction="before", limit=10, newest_first=False) == []
        assert await store.last_seq(999) == 0

    async def test_missed_messages_after_the_device_seq_or_the_delivered_cursor(
        self, store: MessageStore
    ) -> None:
        for cid in (1, 2, 3):
            await make_group(store, cid, "alice", "bob")
        await make_group(store, 4, "alice")  # not bob's
        await fill(store, 1, 5)
        await fill(store, 2, 3)
        await fill(store, 4, 2)  # conversation 3 stays empty
        await store.advance_cursors([CursorUpdate("bob", 1, CursorKind.DELIVERED, 2)])

        async def missed(since: dict[int, int], limit: int, most: int = 10) -> dict[int, list[int]]:
            return {cid: seqs(rows) for cid, rows in await store.missed_messages("bob", since, limit, most)}

        assert await missed({2: 1}, 2) == {1: [3, 4], 2: [2, 3]}
        assert await missed({}, 10) == {1: [3, 4, 5], 2: [1, 2, 3]}
        assert await missed({1: 5, 2: 3}, 10) == {}  # the device is up to date
        assert await missed({1: 0}, 1) == {1: [1], 2: [1]}  # the device seq wins over the cursor
        assert await missed({}, 0) == {}
        assert await store.missed_messages("carol", {}, 10, 10) == []

    async def test_missed_messages_many_reads_each_as_alone_in_order(self, store: MessageStore) -> None:
        for cid in (1, 2):
            await make_group(store, cid, "alice", "bob", "carol")
        await fill(store, 1, 5)
        await fill(store, 2, 3)
        await store.advance_cursors([CursorUpdate("bob", 1, CursorKind.DELIVERED, 2)])
        asks = [("bob", {2: 1}, 2), ("carol", {}, 10), ("nobody", {}, 10), ("bob", {}, 10)]
        many = await store.missed_messages_many(asks, 10, max_bytes=1000, max_pages=5)
        alone = [await store.missed_messages(u, since, limit, 10, 1000, 5) for u, since, limit in asks]
        assert many == alone
        assert [{cid: seqs(rows) for cid, rows in one} for one in many] == [
            {1: [3, 4], 2: [2, 3]},
            {1: [1, 2, 3, 4, 5], 2: [1, 2, 3]},
            {},
            {1: [3, 4, 5], 2: [1, 2, 3]},
        ]
        assert await store.missed_messages_many([], 10) == []

    async def test_missed_messages_many_stops_past_its_total_bytes(self, store: MessageStore) -> None:
        """Each fill message is 11 bytes (body "hi", a 9-byte payload): past 30 (or 50) bytes
        read, the next asks are left out; the first is always read, however large."""
        await make_group(store, 1, "alice", "bob")
        await fill(store, 1, 3)
        asks = [("bob", {1: 0}, 10), ("bob", {1: 1}, 10), ("bob", {1: 2}, 10)]
        cut = await store.missed_messages_many(asks, 10, max_total_bytes=30)
        assert [[seqs(rows) for _, rows in one] for one in cut] == [[[1, 2, 3]]]
        wide = await store.missed_messages_many(asks, 10, max_total_bytes=50)
        assert [[seqs(rows) for _, rows in one] for one in wide] == [[[1, 2, 3]], [[2, 3]]]
        assert len(await store.missed_messages_many(asks, 10)) == 3

    async def test_missed_messages_newest_activity_first_within_the_conversation_limit(
        self, store: MessageStore
    ) -> None:
        await make_group(store, 1, "alice", "bob", at=NOW)
        await make_group(store, 2, "alice", "bob", at=NOW - 1000)
        await store.append([message(2, "alice", "late", at=NOW + 1000)])
        await store.append([message(1, "alice", "early", at=NOW + 500)])
        both = await store.missed_messages("bob", {}, 10, 10)
        assert [cid for cid, _ in both] == [2, 1]
        only = await store.missed_messages("bob", {}, 10, 1)
        assert [cid for cid, _ in only] == [2]

    async def test_reads_stop_one_row_past_the_byte_budget_nearest_first(self, store: MessageStore) -> None:
        """Each fill message is at least 11 bytes (body "hi", a 9-byte payload): 30 bytes are
        spent by the third row, and a fourth says there is more."""
        await make_group(store, 1, "alice", "bob")
        await fill(store, 1, 10)
        history = store.history
        before = await history(
            1, anchor_seq=0, direction="before", limit=10, newest_first=False, max_bytes=30
        )
        assert seqs(before) == [7, 8, 9, 10]
        newest = await history(1, anchor_seq=0, direction="before", limit=10, newest_first=True, max_bytes=30)
        assert seqs(newest) == [10, 9, 8, 7]
        after = await history(1, anchor_seq=2, direction="after", limit=10, newest_first=False, max_bytes=30)
        assert seqs(after) == [3, 4, 5, 6]
        assert seqs(
            await history(1, anchor_seq=0, direction="after", limit=2, newest_first=False, max_bytes=30)
        ) == [
            1,
            2,
        ]

    async def test_missed_messages_past_the_byte_budget_are_listed_without_messages(
        self, store: MessageStore
    ) -> None:
        await make_group(store, 1, "alice", "bob", at=NOW)
        await make_group(store, 2, "alice", "bob", at=NOW - 1000)
        await fill(store, 2, 5)
        await store.append([message(1, "alice", f"late-{i}", at=NOW + 1000) for i in range(5)])
        missed = await store.missed_messages("bob", {}, 10, 10, max_bytes=30)
        assert [(cid, seqs(rows)) for cid, rows in missed] == [(1, [1, 2, 3, 4]), (2, [])]
        paged = await store.missed_messages("bob", {}, 10, 10, max_pages=1)
        assert [(cid, seqs(rows)) for cid, rows in paged] == [(1, [1, 2, 3, 4, 5]), (2, [])]

    # ------------------------------------------------------------------- fencing
    async def test_seal_raises_never_lowers_and_reports_the_stale(self, store: MessageStore) -> None:
        assert await store.sealed_epoch(7) == 0
        assert await store.seal([(7, 5), (8, 1)]) == []
        assert await store.seal([(7, 3), (8, 1)]) == [(7, 5)]  # 8 at its own epoch again: a no-op
        assert await store.seal([(7, 6)]) == []
        assert (await store.sealed_epoch(7), await store.sealed_epoch(8)) == (6, 1)

    async def test_an_item_older_than_its_seal_stores_nothing(self, store: MessageStore) -> None:
        await make_group(store, 1)
        await store.append([message(1, "alice", "e1", epoch=1)])
        await store.seal([(partition_of(1, DEFAULT_PARTITIONS), 2)])
        for stale in (1, 0):  # an older owner, and the unfenced path once sealed
            with pytest.raises(StaleOwner):
                await store.append([message(1, "alice", f"stale-{stale}", epoch=stale)])
        (fresh,) = await store.append([message(1, "alice", "e2", epoch=2)])
        assert fresh.message.seq == 2  # the refused items took no seq
        assert await store.last_seq(1) == 2
        history = await store.history(1, anchor_seq=0, direction="before", limit=10, newest_first=False)
        assert [m.client_msg_id for m in history] == ["e1", "e2"]

    async def test_a_stale_retry_is_refused_not_answered(self, store: MessageStore) -> None:
        await make_group(store, 1)
        await store.append([message(1, "alice", "m1", epoch=1)])
        await store.seal([(partition_of(1, DEFAULT_PARTITIONS), 2)])
        with pytest.raises(StaleOwner):
            await store.append([message(1, "alice", "m1", epoch=1)])
        (retry,) = await store.append([message(1, "alice", "m1", epoch=2)])  # via the new owner
        assert (retry.duplicate, retry.message.seq) == (True, 1)

    async def test_a_stale_caller_fails_alone_beside_concurrent_callers(self, store: MessageStore) -> None:
        sealed, open_ = 1, 2
        assert partition_of(sealed, DEFAULT_PARTITIONS) != partition_of(open_, DEFAULT_PARTITIONS)
        await make_group(store, sealed)
        await make_group(store, open_)
        await store.seal([(partition_of(sealed, DEFAULT_PARTITIONS), 3)])
        results = await asyncio.gather(
            store.append([message(sealed, "alice", "ok-1", epoch=3)]),
            store.append([message(sealed, "alice", "stale", epoch=2)]),
            store.append([message(open_, "alice", "unfenced", epoch=0)]),
            return_exceptions=True,
        )
        assert isinstance(results[1], StaleOwner)
        assert [seqs([o.message for o in r]) for r in (results[0], results[2]) if isinstance(r, list)] == [
            [1],
            [1],
        ]
        assert (await store.last_seq(sealed), await store.last_seq(open_)) == (1, 1)

    async def test_seal_of_one_partition_leaves_the_others_unfenced(self, store: MessageStore) -> None:
        await make_group(store, 2)
        await store.seal([(partition_of(1, DEFAULT_PARTITIONS), 9)])
        (outcome,) = await store.append([message(2, "alice", "m", epoch=0)])
        assert outcome.message.seq == 1

    async def test_a_stale_row_written_after_the_seal_is_never_seen(
        self, store: MessageStore, late_write: LateWrite
    ) -> None:
        """Owner 1 stored m1; owner 2 sealed and stored m2. Owner 1's late writes, at the seq
        owner 2 used and past the end, are seen by no reader: not history, resume, unread, the
        conversation list or dedupe (docs/architecture.md, "Why it holds without conditional
        writes")."""
        await make_group(store, 1, "alice", "bob")
        await store.append([message(1, "alice", "m1", epoch=1)])
        await store.seal([(partition_of(1, DEFAULT_PARTITIONS), 2)])
        await store.append([message(1, "alice", "m2", epoch=2)])
        await late_write(message(1, "alice", "late-2", body="stale", epoch=1), 2)
        await late_write(message(1, "alice", "late-3", body="stale", epoch=1), 3)

        def ids(rows: list[StoredMessage]) -> list[tuple[int, str]]:
            return [(m.seq, m.client_msg_id) for m in rows]

        expected = [(1, "m1"), (2, "m2")]
        history = store.history
        assert (
            ids(await history(1, anchor_seq=0, direction="before", limit=10, newest_first=False)) == expected
        )
        assert (
            ids(await history(1, anchor_seq=0, direction="after", limit=10, newest_first=False)) == expected
        )
        assert (
            ids(await history(1, anchor_seq=1, direction="after", limit=10, newest_first=False))
            == expected[1:]
        )
        assert await store.last_seq(1) == 2
        assert [(cid, ids(rows)) for cid, rows in await store.missed_messages("bob", {}, 10, 10)] == [
            (1, expected)
        ]
        (row,) = await store.list_conversations("bob", 10)
        assert (row.unread, row.last_message and row.last_message.client_msg_id) == (2, "m2")
        # The stale keys are not dedupe hits: through the new owner they are new messages.
        outcomes = await store.append(
            [message(1, "alice", "late-3", body="new", epoch=2), message(1, "alice", "late-2", epoch=2)]
        )
        assert [(o.message.seq, o.duplicate, o.message.body) for o in outcomes] == [
            (3, False, "new"),
            (4, False, "hi"),
        ]
        page = await history(1, anchor_seq=0, direction="before", limit=10, newest_first=False)
        assert [(m.seq, m.client_msg_id, m.body) for m in page] == [
            (1, "m1", "hi"),
            (2, "m2", "hi"),
            (3, "late-3", "new"),
            (4, "late-2", "hi"),
        ]
