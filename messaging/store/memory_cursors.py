"""Delivered/read cursors in memory, monotonic by kernel/log_rules.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from kernel import log_rules
from messaging.model import (
    CursorChange,
    CursorKind,
    Cursors,
    CursorUpdate,
)
from messaging.store.memory_data import MemoryData


class MemoryCursors(MemoryData):
    # ------------------------------------------------------------------- cursors
    async def advance_cursors(self, updates: Sequence[CursorUpdate]) -> list[CursorChange]:
        return [self._advance(update) for update in updates]

    def _advance(self, update: CursorUpdate) -> CursorChange:
        key = (update.user_id, update.conversation_id)
        before = self._get_cursors(update.user_id, update.conversation_id)
        delivered, read, moved = log_rules.advance_cursor(
            before.delivered_seq, before.read_seq, is_read=update.kind is CursorKind.READ, seq=update.seq
        )
        after = dataclasses.replace(before, delivered_seq=delivered, read_seq=read)
        if after != before:
            self._cursors[key] = after
            self._cursors_by_conversation[update.conversation_id].add(update.user_id)
        return CursorChange(after, moved)

    async def get_cursors(self, user_id: str, conversation_id: int) -> Cursors:
        return self._get_cursors(user_id, conversation_id)

    async def all_cursors(self, conversation_id: int) -> list[Cursors]:
        users = sorted(self._cursors_by_conversation.get(conversation_id, ()))
        return [self._cursors[(user_id, conversation_id)] for user_id in users]
