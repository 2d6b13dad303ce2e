"""One ZooKeeper session seen from asyncio: a kazoo client whose results, watches and state
changes reach the event loop through `call_soon_threadsafe` (kazoo runs its own threads; the
loop never blocks on it).

The session's state is kazoo's, with one addition: a session suspended for longer than its
timeout is LOST here at once, without waiting to hear it from a server it cannot reach (the
ensemble has expired it by then, or will as soon as it hears of it). After LOST the client is
stopped: kazoo would open a fresh session, and a fresh session holds none of the old claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionClosedError, ConnectionLoss, KazooException, SessionExpiredError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import KazooState
from kazoo.retry import KazooRetry

from discovery.state_feed import StateFeed
from discovery.zk_paths import ZooKeeperSettings
from kernel.errors import InvalidArgument, Unavailable
from kernel.ownership import SessionState

DISCONNECTED = (ConnectionLoss, ConnectionClosedError, SessionExpiredError, KazooTimeoutError)
"""kazoo's errors that mean the session cannot act now (suspended or gone)."""
_NAME = re.compile(r"[A-Za-z0-9_.:@-]{1,200}")


def check_name(what: str, name: str) -> str:
    """A node or router id usable as a znode name."""
    if not _NAME.fullmatch(name) or name in (".", ".."):
        raise InvalidArgument(f"{what} must be 1-200 of A-Z a-z 0-9 _ . : @ -, not {name!r}")
    return name


def unavailable(error: KazooException) -> Unavailable:
    """A kazoo error as the tree's retryable UNAVAILABLE (chain it: `raise ... from error`)."""
    return Unavailable(f"ZooKeeper: {type(error).__name__} {error}".strip())


_STATES = {
    KazooState.CONNECTED: SessionState.CONNECTED,
    KazooState.SUSPENDED: SessionState.SUSPENDED,
    KazooState.LOST: SessionState.LOST,
}


class ZkSession:
    """A connected kazoo client. `call(client.get_async(path))` awaits a kazoo result;
    `on_loop(fn)` makes a watch callback run on the loop. Open with `ZkSession.open`."""

    def __init__(self, settings: ZooKeeperSettings, hosts: str, loop: asyncio.AbstractEventLoop) -> None:
        self.settings = settings
        self._loop = loop
        self.client = KazooClient(
            hosts=hosts,
            timeout=settings.session_timeout_s,
            connection_retry=KazooRetry(
                max_tries=-1,
                delay=0.05,
                backoff=1.5,
                max_jitter=0.1,
                max_delay=settings.reconnect_max_delay_s,
            ),
        )
        self._state = SessionState.SUSPENDED  # until the first CONNECTED
        self._feed = StateFeed()
        self._connected = loop.create_future()
        self._expiry: asyncio.TimerHandle | None = None
        self._stopping: asyncio.Task[None] | None = None
        self.on_state: list[Callable[[SessionState], None]] = []
        """Called on the loop at each state change (before listeners read it)."""
        self.client.add_listener(self._kazoo_state)

    @classmethod
    async def open(cls, settings: ZooKeeperSettings, hosts: str | None = None) -> ZkSession:
        """A new session, connected; Unavailable if no server answers within the connect timeout."""
        session = cls(settings, hosts or settings.hosts, asyncio.get_running_loop())
        session.client.start_async()
        try:
            await asyncio.wait_for(asyncio.shield(session._connected), settings.connect_timeout_s)
        except TimeoutError as error:
            await session.close()
            raise Unavailable(f"ZooKeeper at {hosts or settings.hosts} did not answer") from error
        except BaseException:
            session._set(SessionState.LOST)  # cancelled: its client must not go on connecting
            raise
        return session

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def session_id(self) -> int:
        """The ZooKeeper session id (what an ephemeral znode's ephemeralOwner names)."""
        return int(self.client._session_id or 0)

    def on_loop(self, callback: Callable[..., object]) -> Callable[..., None]:
        """A kazoo watch function that runs `callback(*args)` on the loop instead."""

        def watch(*args: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody listens
                self._loop.call_soon_threadsafe(callback, *args)

        return watch

    async def call(self, result: Any) -> Any:
        """Await a kazoo async result (IAsyncResult) without blocking the loop, for at most
        the session timeout: kazoo answers a request on a dead connection with ConnectionLoss
        within 2/3 of it, so a result still unsettled after it is one that may never come (a
        request lost in a client being stopped); it fails as disconnected (KazooTimeoutError),
        and the caller retries as after any disconnection instead of waiting forever."""
        future: asyncio.Future[Any] = self._loop.create_future()

        def settle(done: Any) -> None:
            try:
                outcome = functools.partial(_set, future, done.get(block=False), None)
            except Exception as error:  # noqa: BLE001  (handed to the awaiting coroutine as it is)
                outcome = functools.partial(_set, future, None, error)
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(outcome)

        result.rawlink(settle)
        try:
            return await asyncio.wait_for(future, self.settings.session_timeout_s)
        except TimeoutError:
            raise KazooTimeoutError(
                f"no answer from ZooKeeper within {self.settings.session_timeout_s} s"
            ) from None

    def state_changes(self) -> AsyncIterator[SessionState]:
        """Each state change from this call on, in order; ends after LOST."""
        return self._feed.listen()

    async def close(self) -> None:
        """End the session (its ephemeral znodes go at once); idempotent."""
        self._set(SessionState.LOST)
        if self._stopping is not None:
            await asyncio.shield(self._stopping)

    # ------------------------------------------------------------------ state machine

    def _kazoo_state(self, state: KazooState) -> None:
        """kazoo's listener (its thread): hand the change to the loop, never block."""
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._set, _STATES[state])

    def _set(self, state: SessionState) -> None:
        if self._state is SessionState.LOST or (state is self._state and self._connected.done()):
            return
        if state is SessionState.CONNECTED and not self._connected.done():
            self._connected.set_result(None)
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if state is SessionState.SUSPENDED and self._connected.done():
            self._expiry = self._loop.call_later(
                self.settings.session_timeout_s, self._set, SessionState.LOST
            )
        self._state = state
        if state is SessionState.LOST:
            self._stopping = self._loop.create_task(asyncio.to_thread(self._stop_client))
        for callback in self.on_state:
            callback(state)
        self._feed.publish(state)

    def _stop_client(self) -> None:
        self.client.remove_listener(self._kazoo_state)
        with contextlib.suppress(KazooException):
            self.client.stop()
        self.client.close()


def _set(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class RenewedSession:
    """A session opened again each time it is lost, for what holds no claims: a map reader,
    a registry (which registers its nodes again in `on_renewed`). `current` is the session
    of the moment; calls made while it is being replaced fail as disconnected."""

    def __init__(self, first: ZkSession, hosts: str) -> None:
        self.current = first
        self._hosts = hosts
        self.on_renewed: list[Callable[[ZkSession], Awaitable[None]]] = []
        """Called, in order, with each new session once it is connected."""
        self._renewing: asyncio.Task[None] | None = None
        self._closed = False
        first.on_state.append(self._state)

    @classmethod
    async def open(cls, settings: ZooKeeperSettings, hosts: str | None = None) -> RenewedSession:
        return cls(await ZkSession.open(settings, hosts), hosts or settings.hosts)

    def _state(self, state: SessionState) -> None:
        if state is SessionState.LOST and not self._closed and self._renewing is None:
            self._renewing = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        settings, delay = self.current.settings, 0.05
        try:
            while not self._closed:
                try:
                    session = await ZkSession.open(settings, self._hosts)
                except Unavailable:
                    await asyncio.sleep(delay)  # back off between attempts: no server answers
                    delay = min(2 * delay, settings.reconnect_max_delay_s)
                    continue
                self.current = session
                session.on_state.append(self._state)
                for renewed in self.on_renewed:
                    await renewed(session)
                return
        finally:
            self._renewing = None

    async def close(self) -> None:
        self._closed = True
        if self._renewing is not None:
            self._renewing.cancel()
        await self.current.close()
