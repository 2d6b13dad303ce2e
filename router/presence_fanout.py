"""Presence fan-out: follow Presence.Watch and push each change to the user's audience (cached
with a short TTL); fresh sessions get everyone they watch, batched (router/session_open.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from kernel.background import BackgroundTask
from kernel.errors import HubbubError
from kernel.grpc_boundary import call
from protos import client_pb2, messaging_pb2, presence_pb2
from router.context import RouterContext
from router.fanout import plan_fanout
from router.frames import Origin, presence_frame
from router.session_open import SessionOpenBatcher
from router.user_lists import UserListCache

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.1


class PresenceFanout:
    def __init__(self, ctx: RouterContext) -> None:
        self._ctx = ctx
        self.audiences = UserListCache(
            self._fetch_audiences,
            ctx.clock,
            ttl_s=ctx.config.audience_ttl_s,
            capacity=ctx.config.audience_cache_size,
        )
        self.watch_lists = UserListCache(
            self._fetch_watch_lists,
            ctx.clock,
            ttl_s=ctx.config.audience_ttl_s,
            capacity=ctx.config.audience_cache_size,
        )
        self.opened = SessionOpenBatcher(self.watch_lists, self._fetch_statuses, ctx.reply)
        self._watcher = BackgroundTask("router-presence-watch", self._watch)
        self.watching = asyncio.Event()  # set while a Watch stream is open (tests await it)

    def start(self) -> None:
        if self._ctx.presence is not None:
            self._watcher.start()
            self.opened.start()

    async def stop(self) -> None:
        await self.opened.stop()
        await self._watcher.stop()

    async def publish(self, events: Sequence[client_pb2.PresenceEvent]) -> None:
        """Each change to every session of the changed user's audience."""
        audiences = await self.audiences.get_many(event.user_id for event in events)
        users: set[str] = set()
        for audience in audiences.values():
            users.update(audience)
        if not users:
            return
        placement = await self._ctx.directory.lookup(users)
        for event in events:
            watchers = audiences.get(event.user_id)
            if watchers:
                plan = plan_fanout(watchers, placement)
                self._ctx.links.send_plan(plan.targets, presence_frame(event))

    def on_session_opened(self, origin: Origin) -> None:
        """Queue the new session for the next batched opening snapshot."""
        if self._ctx.presence is not None:
            self.opened.submit(origin)

    def forget_pair(self, user_a: str, user_b: str) -> None:
        """A contact was added or removed, or a direct chat opened: visibility is mutual, so
        both sides' lists change."""
        self.audiences.invalidate((user_a, user_b))
        self.watch_lists.invalidate((user_a, user_b))

    async def push_if_visible(self, user_a: str, user_b: str) -> None:
        """After a change that may let two users see each other (a contact added, a direct chat
        opened): if it did, each sees the other's current status now, not at the next change.
        Whether it did is messaging's rule (the watch list); a one-sided add or opening shows
        nothing. Call `forget_pair` first."""
        lists = await self.watch_lists.get_many((user_a,))
        if user_b in lists.get(user_a, ()):
            await self.push_current(user_a, (user_b,))
            await self.push_current(user_b, (user_a,))

    async def push_current(self, user_id: str, watched: Sequence[str]) -> None:
        """The status of `watched` users to every session of `user_id`."""
        if self._ctx.presence is None or not watched:
            return
        snapshot = await call(self._ctx.presence.Query(presence_pb2.PresenceQuery(user_ids=watched)))
        placement = await self._ctx.directory.lookup((user_id,))
        plan = plan_fanout((user_id,), placement)
        for event in snapshot.users:
            self._ctx.links.send_plan(plan.targets, presence_frame(event))

    async def _fetch_audiences(self, user_ids: list[str]) -> dict[str, list[str]]:
        """One call per user; a user whose audience is unavailable is skipped (and logged)."""
        results = await asyncio.gather(*(self._fetch_audience(u) for u in user_ids), return_exceptions=True)
        found: dict[str, list[str]] = {}
        for user_id, result in zip(user_ids, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("presence audience of %s unavailable: %r", user_id, result)
            else:
                found[user_id] = result
        return found

    async def _fetch_audience(self, user_id: str) -> list[str]:
        reply = await call(self._ctx.accounts.PresenceAudience(messaging_pb2.UserRequest(user_id=user_id)))
        return list(reply.user_ids)

    async def _fetch_watch_lists(self, user_ids: list[str]) -> dict[str, list[str]]:
        reply = await call(self._ctx.accounts.PresenceWatchLists(messaging_pb2.UserList(user_ids=user_ids)))
        return {entry.user_id: list(entry.user_ids) for entry in reply.lists}

    async def _fetch_statuses(self, user_ids: list[str]) -> dict[str, bytes]:
        assert self._ctx.presence is not None
        snapshot = await call(self._ctx.presence.Query(presence_pb2.PresenceQuery(user_ids=user_ids)))
        return {event.user_id: presence_frame(event) for event in snapshot.users}

    async def _watch(self) -> None:
        assert self._ctx.presence is not None
        backoff = BACKOFF_START_S
        while True:
            stream = self._ctx.presence.Watch(presence_pb2.WatchRequest())
            try:
                # The server sends its initial metadata once subscribed: changes from then on
                # reach us, so only then is the watch really open.
                await stream.initial_metadata()
                self.watching.set()
                async for snapshot in stream:
                    backoff = BACKOFF_START_S
                    try:
                        await self.publish(snapshot.users)
                    except HubbubError as exc:
                        log.warning("presence fan-out failed: %r", exc)
                log.info("presence watch ended; reconnecting")
            except asyncio.CancelledError:
                stream.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 - a broken stream: reconnect with backoff
                log.warning("presence watch broke: %r; retrying in %.1fs", exc, backoff)
            finally:
                self.watching.clear()
            await asyncio.sleep(backoff)  # backoff between reconnects, not a test wait
            backoff = min(backoff * 2, self._ctx.config.presence_backoff_max_s)
