"""Who a conversation reaches, cached (bounded LRU) in front of Messaging.GetMembers: fan-out,
receipts and typing all need the member ids, and they rarely change.

Not messaging's MemberCache (messaging/membership.py): that one guards writes (who may
send, with roles) from the store itself; this one only answers "deliver to whom" across the
gRPC hop and is invalidated by the group events the router routes."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from kernel.errors import HubbubError, Internal
from kernel.partitions import partition_of
from protos import client_pb2


@dataclass(frozen=True, slots=True)
class Members:
    conversation_id: int
    kind: client_pb2.ConversationKind.ValueType
    user_ids: frozenset[str]


Fetch = Callable[[int], Awaitable[Members]]


class AudienceCache:
    """Member ids and kind per conversation. Concurrent misses for one conversation share one
    fetch. An invalidation while a fetch is in flight keeps its (possibly stale) answer out."""

    def __init__(self, fetch: Fetch, capacity: int = 10_000) -> None:
        self._fetch = fetch
        self._capacity = capacity
        self._entries: OrderedDict[int, Members] = OrderedDict()
        self._loading: dict[int, asyncio.Future[Members]] = {}
        self._generation: dict[int, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.misses = 0

    def peek(self, conversation_id: int) -> Members | None:
        entry = self._entries.get(conversation_id)
        if entry is not None:
            self._entries.move_to_end(conversation_id)
        return entry

    def invalidate(self, conversation_id: int) -> None:
        self._entries.pop(conversation_id, None)
        self._loading.pop(conversation_id, None)
        self._generation[conversation_id] = self._generation.get(conversation_id, 0) + 1

    def forget_partitions(self, partitions: set[int], partition_count: int) -> None:
        """Drop (and void the fetches in flight of) every conversation in `partitions`: taken
        or dropped by this router, they were served by another owner, whose member changes
        this cache never heard."""
        for conversation_id in [*self._entries, *self._loading]:
            if partition_of(conversation_id, partition_count) in partitions:
                self.invalidate(conversation_id)

    async def get(self, conversation_id: int) -> Members:
        entry = self.peek(conversation_id)
        if entry is not None:
            return entry
        loading = self._loading.get(conversation_id)
        if loading is None:
            loading = asyncio.get_running_loop().create_future()
            self._loading[conversation_id] = loading
            # The generation as of the request: an invalidation from now on voids this answer.
            generation = self._generation.get(conversation_id, 0)
            task = asyncio.create_task(self._load(conversation_id, loading, generation))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(loading)

    async def get_many(self, conversation_ids: Iterable[int]) -> dict[int, Members | HubbubError]:
        """Cached answers at once, misses fetched concurrently; a failed fetch yields its error."""
        found: dict[int, Members | HubbubError] = {}
        missing: list[int] = []
        for conversation_id in conversation_ids:
            if conversation_id in found:
                continue
            entry = self.peek(conversation_id)
            if entry is None:
                missing.append(conversation_id)
            else:
                found[conversation_id] = entry
        if missing:
            results = await asyncio.gather(*(self.get(c) for c in missing), return_exceptions=True)
            for conversation_id, result in zip(missing, results, strict=True):
                if isinstance(result, Members | HubbubError):
                    found[conversation_id] = result
                else:
                    found[conversation_id] = Internal("member lookup failed")
        return found

    async def _load(self, conversation_id: int, future: asyncio.Future[Members], generation: int) -> None:
        self.misses += 1
        try:
            members = await self._fetch(conversation_id)
        except asyncio.CancelledError:  # the router stops: waiters must not hang on the future
            if self._loading.get(conversation_id) is future:
                del self._loading[conversation_id]
            future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every waiter of this fetch
            if self._loading.get(conversation_id) is future:
                del self._loading[conversation_id]
            if not future.done():
                future.set_exception(exc)
            future.exception()  # mark retrieved: waiters may all have gone
            return
        if self._loading.get(conversation_id) is future:
            del self._loading[conversation_id]
        if self._generation.get(conversation_id, 0) == generation:
            self._entries[conversation_id] = members
            self._entries.move_to_end(conversation_id)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
            self._generation.pop(conversation_id, None)
        if not future.done():
            future.set_result(members)
