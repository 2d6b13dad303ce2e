"""The children of one znode and their values, kept current by watches (a children watch on
the parent, a data watch on each child: never polling), for the ownership map and the node
registry. After each change it calls `on_change`; `version` is the zxid of the last change
seen, so two processes that see the same children see the same version. A refresh that fails
is retried (after the session is back, or after a backoff if it never left), never abandoned:
a watcher that stopped would leave its process on an old map for good."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import WatchedEvent

from discovery.zk_client import DISCONNECTED, ZkSession
from kernel.ownership import SessionState

log = logging.getLogger(__name__)

RETRY_FIRST_DELAY_S = 0.05
"""The first pause before a failed refresh is tried again on a session still CONNECTED
(doubled each time, up to the settings' reconnect_max_delay_s)."""


class WatchedChildren:
    def __init__(self, zk: ZkSession, path: str, on_change: Callable[[], None]) -> None:
        self._zk = zk
        self.path = path
        self._on_change = on_change
        self.values: dict[str, bytes] = {}
        """child name -> its value, as of `version`."""
        self.version = 0
        self._zxids: dict[str, int] = {}
        self._children_zxid = 0
        self._stale: set[str] = set()
        self._children_stale = True
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._bind(zk)

    def _bind(self, zk: ZkSession) -> None:
        self._zk = zk
        self._children_watch = zk.on_loop(self._children_changed)
        self._data_watch = zk.on_loop(self._child_changed)
        zk.on_state.append(self._session_state)

    async def rebind(self, zk: ZkSession) -> None:
        """Watch through a new session (the old one was lost, and its watches with it)."""
        self._bind(zk)
        self._session_state(SessionState.CONNECTED)

    def start(self) -> None:
        """Begin watching (idempotent); the first `on_change` comes with the first listing."""
        if self._task is None:
            self._task = asyncio.create_task(self._refresh_forever())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _children_changed(self, _event: WatchedEvent) -> None:
        self._children_stale = True
        self._wake.set()

    def _child_changed(self, event: WatchedEvent) -> None:
        self._stale.add(event.path.rsplit("/", 1)[-1])
        self._wake.set()

    def _session_state(self, state: SessionState) -> None:
        if state is SessionState.CONNECTED:  # watches are set again; read what was missed
            self._all_stale()
            self._wake.set()

    def _all_stale(self) -> None:
        self._children_stale = True
        self._stale.update(self.values)

    async def _refresh_forever(self) -> None:
        # The first listing is the leader's view (this client's server may lag behind it).
        try:
            await self._zk.call(self._zk.client.sync_async(self.path))
        except DISCONNECTED:
            pass  # the listing below is retried when the session is back
        except Exception:
            log.exception("watch of %s: sync failed; listing without it", self.path)
        self._wake.set()
        delay = RETRY_FIRST_DELAY_S
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._refresh()
                delay = RETRY_FIRST_DELAY_S
                continue
            except DISCONNECTED as error:
                log.info("watch of %s: refresh cut short: %r", self.path, error)
            except Exception:
                log.exception("watch of %s: refresh failed; retrying", self.path)  # and live on
            self._all_stale()
            if self._zk.state is not SessionState.CONNECTED:
                continue  # retried when the session is back (CONNECTED wakes it)
            # Still connected (a request timed out, a server's error, a bad value): nothing
            # else may wake this loop, so back off and try again.
            await asyncio.sleep(delay)
            delay = min(2 * delay, self._zk.settings.reconnect_max_delay_s)
            self._wake.set()

    async def _refresh(self) -> None:
        zk = self._zk
        if self._children_stale:
            self._children_stale = False
            listing = zk.client.get_children_async(self.path, watch=self._children_watch, include_data=True)
            children, stat = await zk.call(listing)
            present = set(children)
            for gone in set(self.values) - present:
                self.values.pop(gone)
                self._zxids.pop(gone, None)
            self._stale |= present - set(self.values)
            self._stale &= present
            self._children_zxid = int(stat.pzxid)
        stale, self._stale = self._stale, set()
        for name, value, zxid in await asyncio.gather(*(self._read(name) for name in stale)):
            if value is None:
                self.values.pop(name, None)
                self._zxids.pop(name, None)
            else:
                self.values[name] = value
                self._zxids[name] = zxid
        version = max([self._children_zxid, *self._zxids.values()])
        if version > self.version:
            self.version = version
            self._on_change()

    async def _read(self, name: str) -> tuple[str, bytes | None, int]:
        zk = self._zk
        try:
            data, stat = await zk.call(zk.client.get_async(f"{self.path}/{name}", watch=self._data_watch))
        except NoNodeError:
            return name, None, 0
        return name, bytes(data), int(stat.mzxid)


async def read_children(zk: ZkSession, path: str) -> tuple[dict[str, bytes], int]:
    """The children of `path` and their values now (after a sync: the leader's view), with
    the version `WatchedChildren` would give them. Raises kazoo's errors."""
    await zk.call(zk.client.sync_async(path))
    children, stat = await zk.call(zk.client.get_children_async(path, include_data=True))

    async def read(name: str) -> tuple[str, bytes | None, int]:
        try:
            data, child = await zk.call(zk.client.get_async(f"{path}/{name}"))
        except NoNodeError:
            return name, None, 0
        return name, bytes(data), int(child.mzxid)

    values: dict[str, bytes] = {}
    version = int(stat.pzxid)
    for name, value, zxid in await asyncio.gather(*(read(name) for name in children)):
        if value is not None:
            values[name] = value
            version = max(version, zxid)
    return values, version
