"""The CursorStore contract: monotonic cursors, read implies delivered, your own messages are never unread.

A test module subclasses the suite; the `store` fixture (conftest.py) is every backend in turn.
"""

from __future__ import annotations

from messaging.model import CursorKind, Cursors, CursorUpdate
from messaging.store.interface import MessageStore
from tests.messaging.store.contract import make_group, message


class CursorsContract:
    """Subclasses get `store`: an opened backend, closed after the test."""

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
