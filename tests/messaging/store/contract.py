"""The MessageStore contract: the same cases run against every backend.

A backend's test module subclasses `StoreContract` and provides an opened `store` fixture.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict

import pytest

from kernel.errors import Conflict, NotFound, StaleOwner
from kernel.partitions import DEFAULT_PARTITIONS, partition_of
from messaging.model import (
    Conversation,
    ConversationKind,
    CursorKind,
    Cursors,
    CursorUpdate,
    Member,
    NewMessage,
    Role,
    StoredMessage,
    User,
)
from messaging.store.interface import MessageStore

NOW = 1_700_000_000_000
_message_ids = itertools.count(1_000)


def user(user_id: str, display_name: str = "") -> User:
    return User(user_id, display_name or user_id.title(), f"hash-{user_id}", NOW)


def member(user_id: str, role: Role = Role.MEMBER) -> Member:
    return Member(user_id, role, NOW)


def group(conversation_id: int, *, title: str = "group", at: int = NOW) -> Conversation:
    """As the service builds them: a new group's last activity is its creation."""
    return Conversation(conversation_id, ConversationKind.GROUP, title, "alice", at, last_activity_ms=at)


def message(
    conversation_id: int, sender: str, client_msg_id: str, *, body: str = "hi", at: int = NOW, epoch: int = 0
) -> NewMessage:
    return NewMessage(
        conversation_id=conversation_id,
        sender_id=sender,
        sender_device="phone",
        client_msg_id=client_msg_id,
        content_type="text/plain",
        body=body,
        payload=b"\x00\x01payload",
        message_id=next(_message_ids),
        sent_at_ms=at,
        owner_epoch=epoch,
    )


def seqs(messages: list[StoredMessage]) -> list[int]:
    return [m.seq for m in messages]


async def make_group(store: MessageStore, conversation_id: int, *users: str, at: int = NOW) -> None:
    await store.create_group(group(conversation_id, at=at), [member(u) for u in users or ("alice",)])


async def fill(store: MessageStore, conversation_id: int, count: int, sender: str = "alice") -> None:
    batch = [message(conversation_id, sender, f"fill-{conversation_id}-{i}") for i in range(count)]
    await store.append(batch)


class StoreContract:
    """Subclasses provide `store`: an opened backend, closed after the test."""

    # ------------------------------------------------------------------ accounts
    async def test_create_and_get_user(self, store: MessageStore) -> None:
        alice = user("alice")
        await store.create_user(alice)
        assert await store.get_user("alice") == alice
        assert await store.get_user("nobody") is None

    async def test_taken_user_id_conflicts_and_keeps_the_original(self, store: MessageStore) -> None:
        await store.create_user(user("alice", "First"))
        with pytest.raises(Conflict):
            await store.create_user(user("alice", "Second"))
        found = await store.get_user("alice")
        assert found is not None and found.display_name == "First"

    async def test_update_display_name(self, store: MessageStore) -> None:
        await store.create_user(user("alice"))
        updated = await store.update_display_name("alice", "Alice L.")
        assert updated == User("alice", "Alice L.", "hash-alice", NOW)
        assert await store.get_user("alice") == updated
        assert await store.update_display_name("nobody", "x") is None

    async def test_contacts_are_idempotent_sorted_and_reversible(self, store: MessageStore) -> None:
        for contact in ("carol", "bob", "bob"):
            await store.add_contact("alice", contact)
        await store.add_contact("dave", "bob")
        assert await store.list_contacts("alice") == ["bob", "carol"]
        assert await store.contact_of("bob") == ["alice", "dave"]
        assert await store.contact_of("carol") == ["alice"]
        await store.remove_contact("alice", "bob")
        await store.remove_contact("alice", "bob")
        await store.remove_contact("alice", "nobody")
        assert await store.list_contacts("alice") == ["carol"]
        assert await store.contact_of("bob") == ["dave"]
        assert await store.list_contacts("nobody") == []

    async def test_token_generations_start_at_zero_and_only_go_up(self, store: MessageStore) -> None:
        await store.create_user(user("alice"))
        await store.create_user(user("bob"))
        assert await store.token_generations(["alice", "nobody", "bob"]) == {"alice": 0, "bob": 0}
        assert await store.bump_token_generation("alice") == 1
        assert await store.bump_token_generation("alice") == 2
        assert await store.bump_token_generation("nobody") is None
        assert await store.token_generations(["alice", "bob"]) == {"alice": 2, "bob": 0}
        assert await store.token_generations([]) == {}

    # ------------------------------------------------------------- conversations
    async def test_direct_is_created_once_in_either_order(self, store: MessageStore) -> None:
        first, created = await store.get_or_create_direct("alice", "bob", 10, NOW)
        assert created
        assert (first.conversation_id, first.kind) == (10, ConversationKind.DIRECT)
        again, created_again = await store.get_or_create_direct("bob", "alice", 11, NOW + 5)
        assert not created_again
        assert again.conversation_id == 10
        assert await store.get_conversation(11) is None
        assert await store.get_conversation(10) == first
        members = await store.get_members(10)
        assert [(m.user_id, m.role) for m in members] == [("alice", Role.MEMBER), ("bob", Role.MEMBER)]

    async def test_concurrent_direct_creation_yields_one_conversation(self, store: MessageStore) -> None:
        calls = [
            store.get_or_create_direct(*(("alice", "bob") if i % 2 else ("bob", "alice")), 100 + i, NOW)
            for i in range(20)
        ]
        results = await asyncio.gather(*calls)
        assert len({c.conversation_id for c, _ in results}) == 1
        assert sum(created for _, created in results) == 1

    async def test_direct_peers(self, store: MessageStore) -> None:
        await store.get_or_create_direct("alice", "bob", 1, NOW)
        await store.get_or_create_direct("carol", "alice", 2, NOW)
        await make_group(store, 3, "alice", "dave")
        assert await store.direct_peers("alice") == ["bob", "carol"]
        assert await store.direct_peers("bob") == ["alice"]
        assert await store.direct_peers("dave") == []

    async def test_group_members_sorted_with_roles(self, store: MessageStore) -> None:
        await store.create_group(
            group(5, title="team"), [member("carol"), member("alice", Role.OWNER), member("bob")]
        )
        conversation = await store.get_conversation(5)
        assert conversation is not None
        assert (conversation.kind, conversation.title, conversation.last_seq) == (
            ConversationKind.GROUP,
            "team",
            0,
        )
        assert await store.get_members(5) == [member("alice", Role.OWNER), member("bob"), member("carol")]
        assert await store.get_members(999) == []
        assert await store.get_conversation(999) is None

    async def test_taken_conversation_id_conflicts(self, store: MessageStore) -> None:
        await make_group(store, 5, "alice")
        with pytest.raises(Conflict):
            await store.create_group(group(5, title="other"), [member("bob")])
        assert [m.user_id for m in await store.get_members(5)] == ["alice"]

    async def test_add_members_returns_only_the_new_ones(self, store: MessageStore) -> None:
        await make_group(store, 5, "alice", "bob")
        added = await store.add_members(5, [member("bob"), member("carol"), member("dave", Role.ADMIN)])
        assert added == [member("carol"), member("dave", Role.ADMIN)]
        assert [m.user_id for m in await store.get_members(5)] == ["alice", "bob", "carol", "dave"]
        assert await store.add_members(5, [member("carol")]) == []
        assert await store.add_members(999, [member("carol")]) == []
        assert await store.get_members(999) == []

    async def test_remove_member(self, store: MessageStore) -> None:
        await make_group(store, 5, "alice", "bob")
        assert await store.remove_member(5, "bob")
        assert not await store.remove_member(5, "bob")
        assert not await store.remove_member(999, "alice")
        assert [m.user_id for m in await store.get_members(5)] == ["alice"]
        assert await store.list_conversations("bob", 10) == []

    async def test_set_role(self, store: MessageStore) -> None:
        await make_group(store, 5, "alice", "bob")
        assert await store.set_role(5, "bob", Role.ADMIN)
        assert await store.get_members(5) == [member("alice"), member("bob", Role.ADMIN)]
        assert not await store.set_role(5, "carol", Role.ADMIN)
        assert not await store.set_role(999, "bob", Role.ADMIN)

    async def test_rename(self, store: MessageStore) -> None:
        await make_group(store, 5, "alice")
        assert await store.rename(5, "renamed")
        conversation = await store.get_conversation(5)
        assert conversation is not None and conversation.title == "renamed"
        assert not await store.rename(999, "x")

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

    # ------------------------------------------------------------------- cursors
    async def test_cursors_start_at_zero(self, store: MessageStore) -> None:
        assert await store.get_cursors("alice", 1) == Cursors("alice", 1, 0, 0)
        assert await store.all_cursors(1) == []

    async def test_cursors_are_monotonic(self, store: MessageStore) -> None:
        delivered = CursorKind.DELIVERED
        (up,) = await store.advance_cursors([CursorUpdate("alice", 1, delivered, 5)])
        assert (up.cursors, up.moved) == (Cursors("alice", 1, 5, 0), True)
        (same,) = await store.advance_cursors([CursorUpdate("alice", 1, delivered, 5)])
        (down,) = await store.advance_cursors([CursorUpdate("alice", 1, delivered, 3)])
        assert (same.cursors, same.moved) == (Cursors("alice", 1, 5, 0), False)
        assert (down.cursors, down.moved) == (Cursors("alice", 1, 5, 0), False)
        assert await store.get_cursors("alice", 1) == Cursors("alice", 1, 5, 0)

    async def test_read_implies_delivered(self, store: MessageStore) -> None:
        (read,) = await store.advance_cursors([CursorUpdate("alice", 1, CursorKind.READ, 7)])
        assert (read.cursors, read.moved) == (Cursors("alice", 1, 7, 7), True)
        (late,) = await store.advance_cursors([CursorUpdate("alice", 1, CursorKind.DELIVERED, 6)])
        assert (late.cursors, late.moved) == (Cursors("alice", 1, 7, 7), False)
        await store.advance_cursors([CursorUpdate("alice", 1, CursorKind.DELIVERED, 9)])
        (read_less,) = await store.advance_cursors([CursorUpdate("alice", 1, CursorKind.READ, 8)])
        assert (read_less.cursors, read_less.moved) == (Cursors("alice", 1, 9, 8), True)
        assert await store.get_cursors("alice", 1) == Cursors("alice", 1, 9, 8)

    async def test_cursor_updates_apply_in_order_one_result_each(self, store: MessageStore) -> None:
        changes = await store.advance_cursors(
            [
                CursorUpdate("alice", 1, CursorKind.DELIVERED, 3),
                CursorUpdate("bob", 1, CursorKind.READ, 2),
                CursorUpdate("alice", 1, CursorKind.DELIVERED, 2),
                CursorUpdate("alice", 1, CursorKind.READ, 3),
                CursorUpdate("alice", 2, CursorKind.DELIVERED, 1),
            ]
        )
        assert [(c.cursors, c.moved) for c in changes] == [
            (Cursors("alice", 1, 3, 0), True),
            (Cursors("bob", 1, 2, 2), True),
            (Cursors("alice", 1, 3, 0), False),
            (Cursors("alice", 1, 3, 3), True),
            (Cursors("alice", 2, 1, 0), True),
        ]
        everyone = await store.all_cursors(1)
        assert sorted(everyone, key=lambda c: c.user_id) == [
            Cursors("alice", 1, 3, 3),
            Cursors("bob", 1, 2, 2),
        ]
        assert await store.all_cursors(2) == [Cursors("alice", 2, 1, 0)]
        assert await store.advance_cursors([]) == []

    async def test_many_cursor_updates_in_one_call(self, store: MessageStore) -> None:
        """More keys than one statement carries, 63-bit ids, and keys repeated across the call."""
        big = 2**63 - 1
        first = [CursorUpdate(f"u{i}", big - i % 3, CursorKind.DELIVERED, 5) for i in range(600)]
        changes = await store.advance_cursors(first)
        assert all(c.moved and c.cursors.delivered_seq == 5 for c in changes)
        again = [CursorUpdate(f"u{i}", big - i % 3, CursorKind.READ, 4 + i % 2) for i in range(600)]
        changes = await store.advance_cursors(again + again[:2])
        assert [(c.cursors.delivered_seq, c.cursors.read_seq, c.moved) for c in changes[:2]] == [
            (5, 4, True),
            (5, 5, True),
        ]
        assert [c.moved for c in changes[600:]] == [False, False]
        assert await store.get_cursors("u597", big) == Cursors("u597", big, 5, 5)
        assert len(await store.all_cursors(big - 1)) == 200

    async def test_own_messages_are_never_unread(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice", "bob")
        await store.append([message(1, "alice", "a1"), message(1, "alice", "a2")])
        assert await store.get_cursors("alice", 1) == Cursors("alice", 1, 2, 2)
        (row,) = await store.list_conversations("alice", 10)
        assert row.unread == 0, "a caught-up sender stays caught up"

    async def test_sending_reads_nothing_else(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice", "bob")
        await store.append([message(1, "bob", "b1"), message(1, "alice", "a1"), message(1, "bob", "b2")])
        assert await store.get_cursors("alice", 1) == Cursors("alice", 1, 0, 0)
        assert await store.get_cursors("bob", 1) == Cursors("bob", 1, 1, 1)
        await store.advance_cursors([CursorUpdate("alice", 1, CursorKind.DELIVERED, 3)])
        await store.append([message(1, "alice", "a2"), message(1, "alice", "a3")])
        assert await store.get_cursors("alice", 1) == Cursors("alice", 1, 5, 0)
        # A retry stores nothing and moves nothing.
        await store.append([message(1, "bob", "b1")])
        assert await store.get_cursors("bob", 1) == Cursors("bob", 1, 1, 1)

    # -------------------------------------------------------- list_conversations
    async def test_list_conversations_by_latest_activity(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice", "bob", at=NOW + 1)
        await make_group(store, 2, "alice", "bob", at=NOW + 2)
        await make_group(store, 3, "alice", at=NOW + 3)
        await make_group(store, 4, "bob", at=NOW + 4)
        await store.append([message(1, "bob", "b1", at=NOW + 10), message(1, "bob", "b2", at=NOW + 11)])
        await store.append([message(2, "bob", "b3", at=NOW + 5)])
        await store.advance_cursors([CursorUpdate("alice", 1, CursorKind.READ, 1)])
        listed = await store.list_conversations("alice", 10)
        assert [s.conversation.conversation_id for s in listed] == [1, 2, 3]
        first, second, third = listed
        assert first.last_message is not None and first.last_message.client_msg_id == "b2"
        assert (first.conversation.last_seq, first.cursors, first.unread) == (2, Cursors("alice", 1, 1, 1), 1)
        assert second.last_message is not None and second.last_message.client_msg_id == "b3"
        assert (second.unread, second.cursors) == (1, Cursors("alice", 2, 0, 0))
        assert third.last_message is None and third.unread == 0
        assert await store.list_conversations("nobody", 10) == []

    async def test_list_conversations_pages_by_activity(self, store: MessageStore) -> None:
        for conversation_id in range(1, 8):
            await make_group(store, conversation_id, "alice", at=NOW + conversation_id)
        await store.append([message(2, "alice", "late", at=NOW + 100)])
        first = await store.list_conversations("alice", 3)
        assert [s.conversation.conversation_id for s in first] == [2, 7, 6]
        rest = await store.list_conversations(
            "alice", 10, before_activity_ms=first[-1].conversation.last_activity_ms
        )
        assert [s.conversation.conversation_id for s in rest] == [5, 4, 3, 1]
        assert await store.list_conversations("alice", 0) == []

    async def test_list_conversations_pages_through_ties_by_conversation_id(
        self, store: MessageStore
    ) -> None:
        """Pages cut by bytes fall inside runs of equal activity time: none skipped or repeated."""
        for conversation_id in range(1, 8):
            await make_group(store, conversation_id, "alice", at=NOW + (conversation_id > 5))
        seen: list[int] = []
        before_ms = before_id = 0
        while page := await store.list_conversations("alice", 2, before_ms, before_id):
            seen.extend(s.conversation.conversation_id for s in page)
            before_ms, before_id = (
                page[-1].conversation.last_activity_ms,
                page[-1].conversation.conversation_id,
            )
        assert seen == [7, 6, 5, 4, 3, 2, 1]

    async def test_list_conversations_stop_one_row_past_the_byte_budget(self, store: MessageStore) -> None:
        for conversation_id in range(1, 6):
            await make_group(store, conversation_id, "alice", at=NOW + conversation_id)
            await store.append(
                [message(conversation_id, "alice", f"m{conversation_id}", at=NOW + conversation_id)]
            )
        listed = await store.list_conversations("alice", 10, max_bytes=15)  # each last message is 11+ bytes
        assert [s.conversation.conversation_id for s in listed] == [5, 4, 3]

    async def test_list_conversations_includes_directs(self, store: MessageStore) -> None:
        direct, _ = await store.get_or_create_direct("alice", "bob", 42, NOW + 9)
        await make_group(store, 1, "alice", at=NOW)
        listed = await store.list_conversations("bob", 10)
        assert [(s.conversation.conversation_id, s.conversation.kind) for s in listed] == [
            (42, ConversationKind.DIRECT)
        ]
        assert [s.conversation.conversation_id for s in await store.list_conversations("alice", 10)] == [
            42,
            1,
        ]
        assert direct.last_activity_ms == NOW + 9

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
