"""Opening presence snapshots, batched: sessions opened since the worker last woke share a few
watch-list calls and Presence.Queries (a reconnect storm opens thousands at once), each call
cut below its limits, and one failing call costs only the sessions it was for."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from kernel.background import BackgroundTask
from kernel.budget import split_by_bytes
from kernel.limits import MAX_BATCH_USERS, MAX_INTERNAL_REPLY_BYTES, MAX_PRESENCE_QUERY_USERS
from router.frames import Origin
from router.user_lists import UserListCache

log = logging.getLogger(__name__)

FetchStatuses = Callable[[list[str]], Awaitable[dict[str, bytes]]]
Reply = Callable[[Origin, bytes], None]

QUERY_BYTES = MAX_INTERNAL_REPLY_BYTES
"""The byte budget of one Presence.Query's user ids (each id counted with its framing)."""


def _id_size(user_id: str) -> int:
    return len(user_id.encode()) + 2  # a repeated string's tag and length, near enough


def pack_users(users: Sequence[str], lists: dict[str, list[str]]) -> list[list[str]]:
    """`users` in consecutive groups whose merged watch lists each fit one Presence.Query
    (MAX_PRESENCE_QUERY_USERS ids, QUERY_BYTES bytes); a user whose own list is larger is a
    group alone (its list then takes several queries)."""
    groups: list[list[str]] = []
    current: list[str] = []
    union: set[str] = set()
    union_bytes = 0
    for user in users:
        watched = lists[user]
        new = {u for u in watched if u not in union}
        new_bytes = sum(_id_size(u) for u in new)
        if current and (
            len(union) + len(new) > MAX_PRESENCE_QUERY_USERS or union_bytes + new_bytes > QUERY_BYTES
        ):
            groups.append(current)
            current, union, union_bytes = [], set(), 0
            new, new_bytes = set(watched), sum(_id_size(u) for u in set(watched))
        current.append(user)
        union |= new
        union_bytes += new_bytes
    if current:
        groups.append(current)
    return groups


def query_parts(watched: Sequence[str]) -> list[list[str]]:
    """`watched` cut into Presence.Queries of at most MAX_PRESENCE_QUERY_USERS ids and
    QUERY_BYTES bytes each."""
    parts: list[list[str]] = []
    for start in range(0, len(watched), MAX_PRESENCE_QUERY_USERS):
        chunk = watched[start : start + MAX_PRESENCE_QUERY_USERS]
        parts.extend(list(p) for p in split_by_bytes(chunk, [_id_size(u) for u in chunk], QUERY_BYTES))
    return parts


class SessionOpenBatcher:
    """Wakes when sessions open and takes whatever accumulated meanwhile, one batch at a time:
    while a batch's calls are in flight the next batch gathers, so calls grow with the load
    instead of multiplying with it. No timer: a lone session goes at once."""

    def __init__(self, watch_lists: UserListCache, statuses: FetchStatuses, reply: Reply) -> None:
        self._watch_lists = watch_lists
        self._statuses = statuses
        self._reply = reply
        self._pending: list[Origin] = []
        self._wake = asyncio.Event()
        self._worker = BackgroundTask("router-session-open", self._loop)
        self.batches_run = 0

    def start(self) -> None:
        self._worker.start()

    async def stop(self) -> None:
        await self._worker.stop()

    def submit(self, origin: Origin) -> None:
        self._pending.append(origin)
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                await self.run_batch(batch)
            except Exception as exc:  # noqa: BLE001 - a snapshot is best effort: log and go on
                log.warning("presence snapshot for %d opened sessions failed: %r", len(batch), exc)
            self.batches_run += 1

    async def run_batch(self, origins: Sequence[Origin]) -> None:
        """The current status of everyone each session's user watches, to that session."""
        users = list(dict.fromkeys(origin.user_id for origin in origins))
        lists: dict[str, list[str]] = {}
        for start in range(0, len(users), MAX_BATCH_USERS):
            lists.update(await self._fetch_lists(users[start : start + MAX_BATCH_USERS]))
        by_user: dict[str, list[Origin]] = {}
        for origin in origins:
            if lists.get(origin.user_id):
                by_user.setdefault(origin.user_id, []).append(origin)
        for group in pack_users(list(by_user), lists):
            await self._snapshot(group, lists, by_user)

    async def _fetch_lists(self, users: list[str]) -> dict[str, list[str]]:
        """The watch lists of `users`. Accounts answers as many as fit its reply budget, so ask
        again for the rest while it makes progress; a failed call costs only the users it was
        for (their sessions get no snapshot, logged)."""
        lists: dict[str, list[str]] = {}
        missing = users
        while missing:
            try:
                found = await self._watch_lists.get_many(missing)
            except Exception as exc:  # noqa: BLE001 - best effort, per call
                log.warning("watch lists of %d opening users unavailable: %r", len(missing), exc)
                break
            lists.update(found)
            still = [user for user in missing if user not in lists]
            if len(still) == len(missing):
                log.warning("no watch list for %d opening users", len(still))
                break
            missing = still
        return lists

    async def _snapshot(
        self, group: list[str], lists: dict[str, list[str]], by_user: dict[str, list[Origin]]
    ) -> None:
        """One group's snapshot; a failing query costs only this group's sessions."""
        union = list(dict.fromkeys(u for user in group for u in lists[user]))
        frames: dict[str, bytes] = {}
        try:
            for part in query_parts(union):
                frames.update(await self._statuses(part))
        except Exception as exc:  # noqa: BLE001 - best effort, per group
            sessions = sum(len(by_user[user]) for user in group)
            log.warning("presence snapshot for %d opened sessions failed: %r", sessions, exc)
            return
        for user in group:
            for origin in by_user[user]:
                for watched in lists[user]:
                    frame = frames.get(watched)
                    if frame is not None:
                        self._reply(origin, frame)
