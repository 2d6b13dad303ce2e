"""Who belongs to a conversation, cached in-process: every append and cursor update checks
membership, and asking the store each time would double the hot path's queries.

Changes made through this process invalidate their entry at once; a TTL bounds how long a
change made by another messaging process can go unseen. Concurrent misses for the same
conversation share one load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from kernel.clock import Clock
from kernel.errors import HubbubError, Internal, NotFound, NotMember
from messaging.model import Conversation, ConversationKind, Member
from messaging.store.interface import Directory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MemberSet:
    """A conversation and its members at load time (its last_seq is stale: do not use it)."""

    conversation: Conversation
    members: dict[str, Member]

    @property
    def kind(self) -> ConversationKind:
        return self.conversation.kind

    def sorted_members(self) -> list[Member]:
        return [self.members[user_id] for user_id in sorted(self.members)]


@dataclass(slots=True)
class _Entry:
    members: MemberSet
    loaded_at: float


class MemberCache:
    def __init__(self, store: Directory, clock: Clock, *, max_size: int, ttl_s: float) -> None:
        self._store = store
        self._clock = clock
        self._max_size = max_size
        self._ttl_s = ttl_s
        self._entries: dict[int, _Entry] = {}
        self._loading: dict[int, asyncio.Task[MemberSet]] = {}

    async def get(self, conversation_id: int) -> MemberSet:
        """The members; NotFound for an unknown conversation."""
        cached = self._cached(conversation_id)
        if cached is not None:
            return cached
        task = self._loading.get(conversation_id)
        if task is None:
            task = asyncio.create_task(self._load(conversation_id))
            # Retrieved even when every waiter was cancelled (shield then drops its callback),
            # so a failed load is never logged as "Task exception was never retrieved".
            task.add_done_callback(_retrieve)
            self._loading[conversation_id] = task
        # shield: one cancelled caller must not cancel the load others are waiting for
        return await asyncio.shield(task)

    def _cached(self, conversation_id: int) -> MemberSet | None:
        entry = self._entries.get(conversation_id)
        if entry is not None and self._clock.monotonic() - entry.loaded_at <= self._ttl_s:
            return entry.members
        return None

    async def require_member(self, conversation_id: int, user_id: str) -> MemberSet:
        members = await self.get(conversation_id)
        if user_id not in members.members:
            raise NotMember("you are not a member of this conversation")
        return members

    async def get_many(self, conversation_ids: Iterable[int]) -> dict[int, MemberSet | HubbubError]:
        """Members of several conversations, errors per conversation. Hits are answered
        without creating a task (the append hot path); misses load concurrently."""
        result: dict[int, MemberSet | HubbubError] = {}
        misses: dict[int, None] = {}
        for cid in conversation_ids:
            if cid in result or cid in misses:
                continue
            cached = self._cached(cid)
            if cached is None:
                misses[cid] = None
            else:
                result[cid] = cached
        if not misses:
            return result
        found = await asyncio.gather(*(self.get(cid) for cid in misses), return_exceptions=True)
        for cid, value in zip(misses, found, strict=True):
            if isinstance(value, MemberSet | HubbubError):
                result[cid] = value
            elif isinstance(value, Exception):  # one conversation's failure is its own, not the batch's
                log.error("loading the members of %d failed", cid, exc_info=value)
                result[cid] = Internal("member lookup failed")
            else:
                raise value
        return result

    def invalidate(self, conversation_id: int) -> None:
        """Forget the entry and orphan any load in flight, so the next reader sees the change."""
        self._entries.pop(conversation_id, None)
        self._loading.pop(conversation_id, None)

    async def _load(self, conversation_id: int) -> MemberSet:
        me = asyncio.current_task()
        try:
            conversation = await self._store.get_conversation(conversation_id)
            if conversation is None:
                raise NotFound(f"conversation {conversation_id} not found")
            members = await self._store.get_members(conversation_id)
            loaded = MemberSet(conversation, {m.user_id: m for m in members})
            if self._loading.get(conversation_id) is me and self._max_size > 0:
                self._entries.pop(conversation_id, None)
                self._entries[conversation_id] = _Entry(loaded, self._clock.monotonic())
                while len(self._entries) > self._max_size:
                    del self._entries[next(iter(self._entries))]
            return loaded
        finally:
            if self._loading.get(conversation_id) is me:
                del self._loading[conversation_id]


def _retrieve(task: asyncio.Task[MemberSet]) -> None:
    if not task.cancelled():
        task.exception()


@dataclass(slots=True)
class _Held:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class ConversationLocks:
    """One lock per conversation, for as long as someone holds or waits for it (so the table
    holds only the conversations being changed right now)."""

    def __init__(self) -> None:
        self._held: dict[int, _Held] = {}

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: int) -> AsyncIterator[None]:
        held = self._held.get(conversation_id)
        if held is None:
            held = self._held[conversation_id] = _Held()
        held.users += 1
        try:
            async with held.lock:
                yield
        finally:
            held.users -= 1
            if held.users == 0:
                del self._held[conversation_id]

    def __len__(self) -> int:
        return len(self._held)
