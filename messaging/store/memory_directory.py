"""The directory in memory: users, token generations, contacts, conversations, membership."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from kernel.errors import Conflict
from messaging.model import (
    Conversation,
    ConversationKind,
    ConversationSummary,
    DirectPeer,
    Member,
    PresenceRelations,
    Role,
    User,
)
from messaging.store.memory_data import MemoryData
from messaging.store.read_budget import ReadBudget


class MemoryDirectory(MemoryData):
    # ------------------------------------------------------------------ accounts
    async def create_user(self, user: User) -> None:
        if user.user_id in self._users:
            raise Conflict(f"user id {user.user_id!r} is taken")
        self._users[user.user_id] = user

    async def get_user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    async def update_display_name(self, user_id: str, display_name: str) -> User | None:
        user = self._users.get(user_id)
        if user is None:
            return None
        user = dataclasses.replace(user, display_name=display_name)
        self._users[user_id] = user
        return user

    async def add_contact(self, owner_id: str, contact_id: str) -> None:
        self._contacts[owner_id].add(contact_id)
        self._contact_of[contact_id].add(owner_id)

    async def remove_contact(self, owner_id: str, contact_id: str) -> None:
        self._contacts[owner_id].discard(contact_id)
        self._contact_of[contact_id].discard(owner_id)

    async def list_contacts(self, owner_id: str) -> list[str]:
        return sorted(self._contacts.get(owner_id, ()))

    async def contact_of(self, user_id: str) -> list[str]:
        return sorted(self._contact_of.get(user_id, ()))

    async def token_generations(self, user_ids: Sequence[str]) -> dict[str, int]:
        return {u: self._token_generations.get(u, 0) for u in user_ids if u in self._users}

    async def bump_token_generation(self, user_id: str) -> int | None:
        if user_id not in self._users:
            return None
        generation = self._token_generations.get(user_id, 0) + 1
        self._token_generations[user_id] = generation
        return generation

    # ------------------------------------------------------------- conversations
    async def get_or_create_direct(
        self, user_a: str, user_b: str, conversation_id: int, now_ms: int
    ) -> tuple[Conversation, bool]:
        pair = frozenset((user_a, user_b))
        existing = self._directs.get(pair)
        if existing is not None:
            self._direct_opened.add((existing, user_a))
            return self._conversations[existing], False
        conversation = Conversation(
            conversation_id=conversation_id,
            kind=ConversationKind.DIRECT,
            title="",
            created_by=user_a,
            created_at_ms=now_ms,
            last_activity_ms=now_ms,
        )
        self._insert(conversation, [Member(u, Role.MEMBER, now_ms) for u in sorted(pair)])
        self._directs[pair] = conversation_id
        self._direct_opened.add((conversation_id, user_a))
        self._direct_peers[user_a].add(user_b)
        self._direct_peers[user_b].add(user_a)
        return conversation, True

    async def create_group(self, conversation: Conversation, members: Sequence[Member]) -> None:
        if conversation.conversation_id in self._conversations:
            raise Conflict(f"conversation {conversation.conversation_id} exists")
        self._insert(conversation, members)

    def _insert(self, conversation: Conversation, members: Sequence[Member]) -> None:
        cid = conversation.conversation_id
        self._conversations[cid] = conversation
        self._members[cid] = {m.user_id: m for m in members}
        for member in members:
            self._by_user[member.user_id].add(cid)

    async def get_conversation(self, conversation_id: int) -> Conversation | None:
        return self._conversations.get(conversation_id)

    async def record_appends(self, heads: Mapping[int, tuple[int, int]]) -> None:
        for cid, (last_seq, activity_ms) in heads.items():
            found = self._conversations.get(cid)
            if found is not None:
                self._conversations[cid] = dataclasses.replace(
                    found,
                    last_seq=max(found.last_seq, last_seq),
                    last_activity_ms=max(found.last_activity_ms, activity_ms),
                )

    async def get_members(self, conversation_id: int) -> list[Member]:
        members = self._members.get(conversation_id, {})
        return [members[user_id] for user_id in sorted(members)]

    async def add_members(self, conversation_id: int, members: Sequence[Member]) -> list[Member]:
        current = self._members.get(conversation_id)
        if current is None:
            return []
        added = []
        for member in members:
            if member.user_id not in current:
                current[member.user_id] = member
                self._by_user[member.user_id].add(conversation_id)
                added.append(member)
        return added

    async def remove_member(self, conversation_id: int, user_id: str) -> bool:
        current = self._members.get(conversation_id)
        if current is None or current.pop(user_id, None) is None:
            return False
        self._by_user[user_id].discard(conversation_id)
        return True

    async def set_role(self, conversation_id: int, user_id: str, role: Role) -> bool:
        member = self._members.get(conversation_id, {}).get(user_id)
        if member is None:
            return False
        self._members[conversation_id][user_id] = dataclasses.replace(member, role=role)
        return True

    async def rename(self, conversation_id: int, title: str) -> bool:
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return False
        self._conversations[conversation_id] = dataclasses.replace(conversation, title=title)
        return True

    async def presence_relations(self, user_ids: Sequence[str]) -> list[PresenceRelations]:
        return [
            PresenceRelations(
                await self.list_contacts(u), await self.contact_of(u), await self.direct_peers(u)
            )
            for u in user_ids
        ]

    async def direct_peers(self, user_id: str) -> list[DirectPeer]:
        peers = []
        for peer_id in sorted(self._direct_peers.get(user_id, ())):
            cid = self._directs[frozenset((user_id, peer_id))]
            opened = self._direct_opened
            peers.append(DirectPeer(peer_id, cid, (cid, user_id) in opened, (cid, peer_id) in opened))
        return peers

    async def list_conversations(
        self,
        user_id: str,
        limit: int,
        before_activity_ms: int = 0,
        before_conversation_id: int = 0,
        max_bytes: int = 0,
    ) -> list[ConversationSummary]:
        conversations = [self._conversations[cid] for cid in self._by_user.get(user_id, ())]
        if before_activity_ms > 0:
            before = (before_activity_ms, before_conversation_id)
            conversations = [c for c in conversations if (c.last_activity_ms, c.conversation_id) < before]
        conversations.sort(key=lambda c: (c.last_activity_ms, c.conversation_id), reverse=True)
        summaries = []
        for conversation in conversations[:limit]:
            messages = self._messages.get(conversation.conversation_id)
            summaries.append(
                ConversationSummary(
                    conversation=conversation,
                    last_message=messages[-1] if messages else None,
                    cursors=self._get_cursors(user_id, conversation.conversation_id),
                    peer_id=self._direct_peer_of(user_id, conversation),
                )
            )
        return ReadBudget(max_bytes).take_summaries(summaries)

    def _direct_peer_of(self, user_id: str, conversation: Conversation) -> str:
        if conversation.kind is not ConversationKind.DIRECT:
            return ""
        others = [u for u in self._members.get(conversation.conversation_id, {}) if u != user_id]
        return others[0] if others else ""
