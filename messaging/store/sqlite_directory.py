"""The directory on SQLite: users, token generations, contacts, conversations, membership."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from messaging.model import (
    Conversation,
    ConversationSummary,
    DirectPeer,
    Member,
    PresenceRelations,
    Role,
    User,
)
from messaging.store import sqlite_reads as reads
from messaging.store import sqlite_writes as writes
from messaging.store.sqlite_base import SqliteBase


class SqliteDirectory(SqliteBase):
    # ------------------------------------------------------------------ accounts
    async def create_user(self, user: User) -> None:
        await self._writer.call(lambda c: writes.create_user(c, user))

    async def get_user(self, user_id: str) -> User | None:
        return await self._read(lambda c: reads.get_user(c, user_id))

    async def update_display_name(self, user_id: str, display_name: str) -> User | None:
        return await self._writer.call(lambda c: writes.update_display_name(c, user_id, display_name))

    async def add_contact(self, owner_id: str, contact_id: str) -> None:
        await self._writer.call(lambda c: writes.add_contact(c, owner_id, contact_id))

    async def token_generations(self, user_ids: Sequence[str]) -> dict[str, int]:
        return await self._read(lambda c: reads.token_generations(c, user_ids))

    async def bump_token_generation(self, user_id: str) -> int | None:
        return await self._writer.call(lambda c: writes.bump_token_generation(c, user_id))

    async def remove_contact(self, owner_id: str, contact_id: str) -> None:
        await self._writer.call(lambda c: writes.remove_contact(c, owner_id, contact_id))

    async def list_contacts(self, owner_id: str) -> list[str]:
        return await self._read(lambda c: reads.list_contacts(c, owner_id))

    async def contact_of(self, user_id: str) -> list[str]:
        return await self._read(lambda c: reads.contact_of(c, user_id))

    # ------------------------------------------------------------- conversations
    async def get_or_create_direct(
        self, user_a: str, user_b: str, conversation_id: int, now_ms: int
    ) -> tuple[Conversation, bool]:
        return await self._writer.call(
            lambda c: writes.get_or_create_direct(c, user_a, user_b, conversation_id, now_ms)
        )

    async def create_group(self, conversation: Conversation, members: Sequence[Member]) -> None:
        await self._writer.call(lambda c: writes.create_group(c, conversation, members))

    async def get_conversation(self, conversation_id: int) -> Conversation | None:
        return await self._read(lambda c: reads.get_conversation(c, conversation_id))

    async def record_appends(self, heads: Mapping[int, tuple[int, int]]) -> None:
        await self._writer.call(lambda c: writes.record_appends(c, heads))

    async def get_members(self, conversation_id: int) -> list[Member]:
        return await self._read(lambda c: reads.get_members(c, conversation_id))

    async def add_members(self, conversation_id: int, members: Sequence[Member]) -> list[Member]:
        return await self._writer.call(lambda c: writes.add_members(c, conversation_id, members))

    async def remove_member(self, conversation_id: int, user_id: str) -> bool:
        return await self._writer.call(lambda c: writes.remove_member(c, conversation_id, user_id))

    async def set_role(self, conversation_id: int, user_id: str, role: Role) -> bool:
        return await self._writer.call(lambda c: writes.set_role(c, conversation_id, user_id, role))

    async def rename(self, conversation_id: int, title: str) -> bool:
        return await self._writer.call(lambda c: writes.rename(c, conversation_id, title))

    async def presence_relations(self, user_ids: Sequence[str]) -> list[PresenceRelations]:
        return await self._read(lambda c: [reads.presence_relations(c, u) for u in user_ids])

    async def direct_peers(self, user_id: str) -> list[DirectPeer]:
        return await self._read(lambda c: reads.direct_peers(c, user_id))

    async def list_conversations(
        self,
        user_id: str,
        limit: int,
        before_activity_ms: int = 0,
        before_conversation_id: int = 0,
        max_bytes: int = 0,
    ) -> list[ConversationSummary]:
        return await self._read(
            lambda c: reads.list_conversations(
                c, user_id, limit, before_activity_ms, before_conversation_id, max_bytes
            )
        )
