"""Conversations and membership: direct chats (one per pair), groups with roles, the
conversation list. Every operation checks that the caller is a member first."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from kernel.clock import Clock
from kernel.errors import InvalidArgument, NotFound
from kernel.ids import SnowflakeGenerator
from kernel.limits import MAX_ID, MAX_REPLY_PAGE_BYTES
from messaging import rules
from messaging.membership import ConversationLocks, MemberCache, MemberSet
from messaging.model import Conversation, ConversationKind, ConversationSummary, Member, Role
from messaging.store.interface import Directory


@dataclass(frozen=True, slots=True)
class Details:
    """A conversation with its members, as returned to clients."""

    conversation: Conversation
    members: list[Member]


# ---------------------------------------------------------------- group changes
@dataclass(frozen=True, slots=True)
class Rename:
    title: str


@dataclass(frozen=True, slots=True)
class AddMembers:
    user_ids: Sequence[str]


@dataclass(frozen=True, slots=True)
class RemoveMember:
    user_id: str


@dataclass(frozen=True, slots=True)
class SetRole:
    user_id: str
    role: Role


GroupChange = Rename | AddMembers | RemoveMember | SetRole


class EventKind(StrEnum):
    CREATED = "created"
    MEMBERS_ADDED = "members_added"
    MEMBER_REMOVED = "member_removed"
    RENAMED = "renamed"
    ROLE_CHANGED = "role_changed"


@dataclass(frozen=True, slots=True)
class GroupEvent:
    kind: EventKind
    details: Details
    actor_id: str
    user_ids: list[str]


class Conversations:
    def __init__(self, store: Directory, ids: SnowflakeGenerator, clock: Clock, members: MemberCache) -> None:
        self._store = store
        self._ids = ids
        self._clock = clock
        self._members = members
        # Group changes are check-then-write (the size limit, "exactly one owner"), so they
        # run one at a time per conversation, each on fresh members. A lock in this process
        # rather than a conditional write in the store: one messaging process per node owns
        # the store, and a lock also covers the changes that write several rows (ownership
        # transfer), which a conditional single-row write would not. Several messaging
        # processes over one shared store would need the store's conditional write instead.
        self._changing = ConversationLocks()

    async def open_direct(self, user_id: str, peer_id: str) -> Details:
        """The pair's one direct conversation, created on first open."""
        rules.validate_direct(user_id, peer_id)
        await self._require_users([user_id, peer_id])
        conversation, _ = await self._store.get_or_create_direct(
            user_id, peer_id, self._ids.next_id(), self._clock.now_ms()
        )
        members = await self._members.get(conversation.conversation_id)
        return Details(conversation, members.sorted_members())

    async def create_group(self, owner_id: str, title: str, member_ids: Sequence[str]) -> GroupEvent:
        rules.validate_title(title)
        invited = rules.new_group_members(owner_id, member_ids)
        await self._require_users([owner_id, *invited])
        now = self._clock.now_ms()
        conversation = Conversation(
            conversation_id=self._ids.next_id(),
            kind=ConversationKind.GROUP,
            title=title,
            created_by=owner_id,
            created_at_ms=now,
            last_activity_ms=now,
        )
        members = [Member(owner_id, Role.OWNER, now), *(Member(u, Role.MEMBER, now) for u in invited)]
        await self._store.create_group(conversation, members)
        details = Details(conversation, sorted(members, key=lambda m: m.user_id))
        return GroupEvent(EventKind.CREATED, details, owner_id, [m.user_id for m in details.members])

    async def get(self, user_id: str, conversation_id: int) -> Details:
        """`user_id` empty = an internal caller (a router's log writer): no membership check."""
        if user_id:
            await self._members.require_member(conversation_id, user_id)
        return await self._fresh(conversation_id)

    async def record_appends(self, heads: Mapping[int, tuple[int, int]]) -> None:
        """A log writer outside this process (a router appending to Cassandra itself) stored
        rows: the conversations' (last seq, activity) rise to these, never lower."""
        for conversation_id, (last_seq, activity_ms) in heads.items():
            if not 0 < conversation_id <= MAX_ID or not 0 <= last_seq <= MAX_ID or activity_ms < 0:
                raise InvalidArgument(f"conversation head out of range: {conversation_id}")
        if heads:
            await self._store.record_appends(heads)

    async def get_members(self, user_id: str, conversation_id: int) -> MemberSet:
        """`user_id` empty = an internal caller (router, edge): no membership check."""
        if not user_id:
            return await self._members.get(conversation_id)
        return await self._members.require_member(conversation_id, user_id)

    async def list_page(
        self, user_id: str, limit: int, before_activity_ms: int, before_conversation_id: int = 0
    ) -> tuple[list[ConversationSummary], bool]:
        """Newest activity first; (page, has_more). The next page starts after the last row's
        (last_activity_ms, conversation_id)."""
        limit = rules.page_limit(limit)
        if before_activity_ms < 0:
            raise InvalidArgument("beforeActivityMs must not be negative")
        if not 0 <= before_conversation_id <= MAX_ID:
            raise InvalidArgument("beforeConversationId is out of range")
        # The store stops near the byte budget too (one row past it: has_more), and convert
        # cuts the page exactly.
        page = await self._store.list_conversations(
            user_id, limit + 1, before_activity_ms, before_conversation_id, max_bytes=MAX_REPLY_PAGE_BYTES
        )
        return page[:limit], len(page) > limit

    async def update_group(self, actor_id: str, conversation_id: int, change: GroupChange) -> GroupEvent:
        """Serialized per conversation: concurrent changes never pass the member limit or
        leave a group with other than one owner; each sees the ones before it."""
        await self._members.require_member(conversation_id, actor_id)  # refuse strangers unqueued
        async with self._changing.hold(conversation_id):
            self._members.invalidate(conversation_id)  # the members as the last change left them
            current = await self._members.require_member(conversation_id, actor_id)
            if current.kind is not ConversationKind.GROUP:
                raise InvalidArgument("direct conversations have no title, roles or member changes")
            actor = current.members[actor_id]
            try:
                kind, affected = await self._apply(actor, current, change)
            finally:
                self._members.invalidate(conversation_id)
            return GroupEvent(kind, await self._fresh(conversation_id), actor_id, affected)

    async def _apply(
        self, actor: Member, current: MemberSet, change: GroupChange
    ) -> tuple[EventKind, list[str]]:
        cid = current.conversation.conversation_id
        members = current.sorted_members()
        match change:
            case Rename(title):
                rules.check_can_rename(actor)
                rules.validate_title(title)
                await self._store.rename(cid, title)
                return EventKind.RENAMED, []
            case AddMembers(user_ids):
                fresh = rules.members_to_add(actor, members, user_ids)
                await self._require_users(fresh)
                now = self._clock.now_ms()
                added = await self._store.add_members(cid, [Member(u, Role.MEMBER, now) for u in fresh])
                return EventKind.MEMBERS_ADDED, [m.user_id for m in added]
            case RemoveMember(user_id):
                target = rules.find_member(members, user_id)
                rules.check_can_remove(actor, target)
                await self._store.remove_member(cid, user_id)
                return EventKind.MEMBER_REMOVED, [user_id]
            case SetRole(user_id, role):
                target = rules.find_member(members, user_id)
                rules.check_can_set_role(actor, target, role)
                if role is Role.OWNER:
                    # Promote first: a crash in between leaves two owners, never none.
                    await self._store.set_role(cid, user_id, Role.OWNER)
                    await self._store.set_role(cid, actor.user_id, Role.ADMIN)
                    return EventKind.ROLE_CHANGED, [user_id, actor.user_id]
                await self._store.set_role(cid, user_id, role)
                return EventKind.ROLE_CHANGED, [user_id]
        raise InvalidArgument("unknown group change")

    async def _fresh(self, conversation_id: int) -> Details:
        """Conversation with its current last_seq (the cache's copy is stale on that)."""
        conversation = await self._store.get_conversation(conversation_id)
        if conversation is None:
            raise NotFound(f"conversation {conversation_id} not found")
        members = await self._members.get(conversation_id)
        return Details(conversation, members.sorted_members())

    async def _require_users(self, user_ids: Sequence[str]) -> None:
        found = await asyncio.gather(*(self._store.get_user(u) for u in user_ids))
        missing = [u for u, user in zip(user_ids, found, strict=True) if user is None]
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise NotFound(f"unknown user(s): {shown}")
