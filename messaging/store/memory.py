"""An in-memory MessageStore: the backend for unit tests and throwaway single-node runs.

Nothing here awaits while it changes state, so every method runs to completion on the event
loop without interleaving: each call is atomic without a lock, and "durable" means "in this dict".
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence

from kernel import log_rules
from kernel.errors import Conflict, NotFound, StaleOwner
from kernel.partitions import DEFAULT_PARTITIONS, partition_of
from messaging.model import (
    AppendOutcome,
    Conversation,
    ConversationKind,
    ConversationSummary,
    CursorChange,
    CursorKind,
    Cursors,
    CursorUpdate,
    Member,
    NewMessage,
    Role,
    StoredMessage,
    User,
)
from messaging.store.interface import HistoryDirection
from messaging.store.own_messages import advance_over_own, own_runs
from messaging.store.read_budget import ReadBudget


class MemoryStore:
    def __init__(self, *, partitions: int = DEFAULT_PARTITIONS) -> None:
        self.partitions = partitions
        self._seals: dict[int, int] = {}  # partition -> highest epoch sealed
        self._users: dict[str, User] = {}
        self._contacts: dict[str, set[str]] = defaultdict(set)
        self._contact_of: dict[str, set[str]] = defaultdict(set)
        self._token_generations: dict[str, int] = {}
        self._conversations: dict[int, Conversation] = {}
        self._members: dict[int, dict[str, Member]] = {}
        self._by_user: dict[str, set[int]] = defaultdict(set)
        self._directs: dict[frozenset[str], int] = {}
        self._direct_peers: dict[str, set[str]] = defaultdict(set)
        self._messages: dict[int, list[StoredMessage]] = defaultdict(list)
        self._dedupe: dict[tuple[str, str], StoredMessage] = {}
        self._cursors: dict[tuple[str, int], Cursors] = {}
        self._cursors_by_conversation: dict[int, set[str]] = defaultdict(set)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

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

    async def direct_peers(self, user_id: str) -> list[str]:
        return sorted(self._direct_peers.get(user_id, ()))

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
                )
            )
        return ReadBudget(max_bytes).take_summaries(summaries)

    # ------------------------------------------------------------------ messages
    async def append(self, messages: Sequence[NewMessage]) -> list[AppendOutcome]:
        conversations = self._conversations
        for new in messages:
            if new.conversation_id not in conversations:
                raise NotFound(f"conversation {new.conversation_id} not found")
        seals, partitions = self._seals, self.partitions
        for new in messages:
            if not log_rules.admits(
                seals.get(partition_of(new.conversation_id, partitions), 0), new.owner_epoch
            ):
                raise StaleOwner("this router no longer owns the conversation's partition")
        dedupe, by_conversation = self._dedupe, self._messages
        numbering = log_rules.number(
            [(new.conversation_id, (new.sender_id, new.client_msg_id)) for new in messages],
            {new.conversation_id: len(by_conversation[new.conversation_id]) for new in messages},
            dedupe,
        )
        outcomes = []
        fresh: list[StoredMessage] = []
        activity: dict[int, int] = {}  # conversation -> latest sent_at_ms of this call
        for new, seq in zip(messages, numbering.seqs, strict=True):
            if seq == 0:
                outcomes.append(AppendOutcome(dedupe[(new.sender_id, new.client_msg_id)], duplicate=True))
                continue
            cid = new.conversation_id
            stored = StoredMessage(
                cid, seq, new.message_id, new.sender_id, new.sender_device,
                new.client_msg_id, new.content_type, new.body, new.payload, new.sent_at_ms,
            )  # fmt: skip
            by_conversation[cid].append(stored)
            dedupe[(new.sender_id, new.client_msg_id)] = stored
            fresh.append(stored)
            if stored.sent_at_ms > activity.get(cid, -1):
                activity[cid] = stored.sent_at_ms
            outcomes.append(AppendOutcome(stored, duplicate=False))
        for cid, sent_at_ms in activity.items():  # one new Conversation value per conversation
            conversation = conversations[cid]
            conversations[cid] = dataclasses.replace(
                conversation,
                last_seq=numbering.last_seqs[cid],
                last_activity_ms=max(conversation.last_activity_ms, sent_at_ms),
            )
        for run in own_runs(fresh):
            before = self._get_cursors(run.sender_id, run.conversation_id)
            self._cursors[(run.sender_id, run.conversation_id)] = advance_over_own(before, run)
            self._cursors_by_conversation[run.conversation_id].add(run.sender_id)
        return outcomes

    async def history(
        self,
        conversation_id: int,
        *,
        anchor_seq: int,
        direction: HistoryDirection,
        limit: int,
        newest_first: bool,
        max_bytes: int = 0,
    ) -> list[StoredMessage]:
        messages = self._messages.get(conversation_id, [])
        if limit <= 0:
            return []
        if direction == "before":
            end = len(messages) if anchor_seq <= 0 else min(anchor_seq - 1, len(messages))
            page = ReadBudget(max_bytes).take(reversed(messages[max(0, end - limit) : end]))
            return page if newest_first else page[::-1]
        start = max(0, anchor_seq)
        page = ReadBudget(max_bytes).take(messages[start : start + limit])
        return page[::-1] if newest_first else page

    async def missed_messages(
        self,
        user_id: str,
        since: Mapping[int, int],
        limit: int,
        max_conversations: int,
        max_bytes: int = 0,
        max_pages: int = 0,
    ) -> list[tuple[int, list[StoredMessage]]]:
        budget = ReadBudget(max_bytes, max_pages)
        conversations = [self._conversations[cid] for cid in self._by_user.get(user_id, ())]
        conversations.sort(key=lambda c: (c.last_activity_ms, c.conversation_id), reverse=True)
        missed: list[tuple[int, list[StoredMessage]]] = []
        for conversation in conversations[:max_conversations]:
            cid = conversation.conversation_id
            after = since.get(cid)
            if after is None:
                after = self._get_cursors(user_id, cid).delivered_seq
            messages = self._messages.get(cid, [])
            if limit > 0 and len(messages) > after:
                start = max(0, after)
                missed.append((cid, budget.take(messages[start : start + limit])))
        return missed

    async def last_seq(self, conversation_id: int) -> int:
        return len(self._messages.get(conversation_id, ()))

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

    def _get_cursors(self, user_id: str, conversation_id: int) -> Cursors:
        found = self._cursors.get((user_id, conversation_id))
        return found if found is not None else Cursors(user_id, conversation_id)

    async def get_cursors(self, user_id: str, conversation_id: int) -> Cursors:
        return self._get_cursors(user_id, conversation_id)

    async def all_cursors(self, conversation_id: int) -> list[Cursors]:
        users = sorted(self._cursors_by_conversation.get(conversation_id, ()))
        return [self._cursors[(user_id, conversation_id)] for user_id in users]

    # ------------------------------------------------------------------- fencing
    async def seal(self, partitions: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        refused: list[tuple[int, int]] = []
        for partition, epoch in partitions:
            sealed, stale = log_rules.seal(self._seals.get(partition, 0), epoch)
            self._seals[partition] = sealed
            if stale:
                refused.append((partition, sealed))
        return refused

    async def sealed_epoch(self, partition: int) -> int:
        return self._seals.get(partition, 0)
