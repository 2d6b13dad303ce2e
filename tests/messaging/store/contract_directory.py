"""The Directory contract (users, token generations, contacts, conversations, membership).

A test module subclasses the suite; the `store` fixture (conftest.py) is every backend in turn.
"""

from __future__ import annotations

import asyncio

import pytest

from kernel.errors import Conflict
from messaging.model import (
    ConversationKind,
    CursorKind,
    Cursors,
    CursorUpdate,
    DirectPeer,
    PresenceRelations,
    Role,
    User,
)
from messaging.store.interface import MessageStore
from tests.messaging.store.contract import NOW, group, make_group, member, message, user


class DirectoryContract:
    """Subclasses get `store`: an opened backend, closed after the test."""

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
        assert [p.peer_id for p in await store.direct_peers("alice")] == ["bob", "carol"]
        assert [p.peer_id for p in await store.direct_peers("bob")] == ["alice"]
        assert await store.direct_peers("dave") == []

    async def test_direct_peers_say_who_opened_the_chat(self, store: MessageStore) -> None:
        await store.get_or_create_direct("alice", "bob", 1, NOW)
        await store.get_or_create_direct("zed", "alice", 2, NOW)
        assert await store.direct_peers("alice") == [
            DirectPeer("bob", 1, opened_by_me=True, opened_by_peer=False),
            DirectPeer("zed", 2, opened_by_me=False, opened_by_peer=True),
        ]
        assert await store.direct_peers("bob") == [DirectPeer("alice", 1, False, True)]
        await store.get_or_create_direct("bob", "alice", 3, NOW)  # bob opens it too
        await store.get_or_create_direct("bob", "alice", 4, NOW)  # again: nothing changes
        assert await store.direct_peers("bob") == [DirectPeer("alice", 1, True, True)]
        assert (await store.direct_peers("alice"))[0] == DirectPeer("bob", 1, True, True)

    async def test_presence_relations_are_the_three_reads_in_order(self, store: MessageStore) -> None:
        await store.get_or_create_direct("alice", "bob", 1, NOW)
        await store.add_contact("alice", "carol")
        await store.add_contact("carol", "alice")
        await store.add_contact("dave", "alice")
        users = ["alice", "nobody", "bob", "alice"]
        relations = await store.presence_relations(users)
        expected = [
            PresenceRelations(
                await store.list_contacts(u), await store.contact_of(u), await store.direct_peers(u)
            )
            for u in users
        ]
        assert relations == expected
        assert relations[0] == PresenceRelations(
            ["carol"], ["carol", "dave"], [DirectPeer("bob", 1, opened_by_me=True, opened_by_peer=False)]
        )
        assert relations[1] == PresenceRelations([], [], [])
        assert await store.presence_relations([]) == []

    async def test_list_rows_name_the_direct_peer(self, store: MessageStore) -> None:
        await store.get_or_create_direct("bob", "alice", 1, NOW)
        await make_group(store, 2, "alice", "bob")
        peers = {
            s.conversation.conversation_id: s.peer_id for s in await store.list_conversations("alice", 10)
        }
        assert peers == {1: "bob", 2: ""}
        bob_rows = await store.list_conversations("bob", 10)
        assert {s.conversation.conversation_id: s.peer_id for s in bob_rows} == {1: "alice", 2: ""}

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

    async def test_recorded_appends_raise_last_seq_and_activity_never_lower(
        self, store: MessageStore
    ) -> None:
        """What a log kept elsewhere (Cassandra) reports after its rows are durable."""
        await make_group(store, 1, "alice", at=NOW)
        await store.record_appends({1: (5, NOW + 10), 999: (3, NOW)})  # an unknown conversation: ignored
        await store.record_appends({1: (4, NOW + 5)})
        conversation = await store.get_conversation(1)
        assert conversation is not None
        assert (conversation.last_seq, conversation.last_activity_ms) == (5, NOW + 10)
        assert await store.get_conversation(999) is None
        (row,) = await store.list_conversations("alice", 10)
        assert row.conversation.last_seq == 5
