"""The thin I/O layer around one Session: feeds it frames and the time, carries out the
actions it returns. Shared by the WebSocket server and the gRPC Gateway."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from google.protobuf.message import DecodeError

from edge.actions import Action, Close, CloseCode, Opened, QueryKind, Reply, Throttle, ToMessaging, ToRouter
from edge.codec import Codec, PushedFrame
from edge.frames import error_frame, error_from
from edge.hub import Hub
from edge.inbound_limits import InboundRates, UserLimits
from edge.outbox import Outbox, Transport
from edge.session import Session, SessionSettings
from kernel import telemetry
from kernel.clock import Clock
from kernel.errors import BadFrame, ErrorCode, HubbubError, Internal
from protos.client_pb2 import ClientFrame, ServerFrame
from protos.messaging_pb2 import AuthReply
from protos.router_pb2 import SessionRef

log = logging.getLogger(__name__)
# While a flooding client is paused, these are still handled; the rest are dropped unanswered.
KEPT_WHILE_PAUSED = frozenset({"ping", "goodbye"})
_tracer = telemetry.tracer("hubbub.edge")


class RouterSink(Protocol):
    def forward(self, ref: SessionRef, frame: ClientFrame, raw: bytes | None = None) -> bool:
        """Queue a frame for its router; False = the link is down and its backlog is full.

        `raw`, when given, is the frame's exact wire form, spliced in instead of re-encoding."""
        ...

    def opened(self, ref: SessionRef) -> None: ...

    def closed(self, ref: SessionRef, graceful: bool) -> None: ...


class PresenceSink(Protocol):
    def opened(self, ref: SessionRef) -> None: ...

    def closed(self, ref: SessionRef) -> None: ...


class QueryRunner(Protocol):
    async def answer(self, query: ToMessaging) -> list[ServerFrame]:
        """The frames answering a read-only query (an Error frame when it failed)."""
        ...

    async def authenticate(self, query: ToMessaging, peer: str = "") -> AuthReply:
        """Log in or sign up from address `peer`; raises HubbubError when refused."""
        ...


@dataclass
class EdgeContext:
    """Everything a connection shares with the rest of the edge."""

    settings: SessionSettings
    clock: Clock
    hub: Hub
    router: RouterSink
    presence: PresenceSink
    queries: QueryRunner
    send_queue_limit: int
    limits: UserLimits = field(default_factory=lambda: UserLimits(InboundRates()))
    """Per-user inbound buckets, shared by all of a user's connections on this edge."""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_session_id(self) -> int:
        return next(self._ids)


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class Connection:
    """One client connection. Call `start`, feed `on_data`/`on_frame`, then `finish`.

    Slotted, and its query-task set made on first use: one of these per idle client."""

    __slots__ = (
        "_codec",
        "_ctx",
        "_opened",
        "_tasks",
        "_transport",
        "close_code",
        "outbox",
        "paused_until_ms",
        "peer",
        "ref",
        "session",
    )

    def __init__(self, ctx: EdgeContext, codec: Codec, transport: Transport, peer: str = "") -> None:
        self._ctx = ctx
        self._codec = codec
        self.peer = peer  # the client's address, for log-in / sign-up throttling
        now = ctx.clock.now_ms()
        self.session = Session(ctx.next_session_id(), ctx.settings, now, ctx.limits)
        self.outbox = Outbox(transport, ctx.send_queue_limit)
        self.ref = SessionRef(session_id=self.session.session_id)
        self._opened = False
        self._tasks: set[asyncio.Task[None]] | None = None  # queries in flight
        self.close_code: int | None = None
        # Throttle: until when this client's frames are dropped unread. A transport with a
        # `pause_reading(ms)` stops reading meanwhile; the gateway's pump waits instead.
        self.paused_until_ms = 0
        self._transport = transport

    def start(self) -> None:
        self.outbox.start()
        self._ctx.hub.add(self)

    # ---------------------------------------------------------------- inputs

    def on_data(self, data: bytes | str) -> None:
        """One transport message (a WebSocket frame)."""
        paused = bool(self.paused_until_ms) and self._paused()
        try:
            frame = self._codec.decode(data)
        except BadFrame as exc:
            if not paused:
                self._apply(self.session.bad_frame(exc.message, self._ctx.clock.now_ms()))
            return
        if paused and frame.WhichOneof("kind") not in KEPT_WHILE_PAUSED:
            return
        # A binary payload is the frame's wire form: routed frames reuse it as is.
        raw = data if not self._codec.text and isinstance(data, bytes) else None
        self._apply(self.session.receive(frame, self._ctx.clock.now_ms()), raw)

    def on_bad_data(self, detail: str) -> None:
        """A transport message that is not even a payload (a text frame that is not UTF-8)."""
        self._apply(self.session.bad_frame(detail, self._ctx.clock.now_ms()))

    def on_frame(self, frame: ClientFrame) -> None:
        if self.paused_until_ms and self._paused() and frame.WhichOneof("kind") not in KEPT_WHILE_PAUSED:
            return
        self._apply(self.session.receive(frame, self._ctx.clock.now_ms()))

    def tick(self, now_ms: int) -> None:
        self._apply(self.session.tick(now_ms))

    def _paused(self) -> bool:
        """Whether a throttled client's pause still runs: its frames but pings and goodbyes
        are then dropped unanswered. Real time, like the transport's pause."""
        if _monotonic_ms() < self.paused_until_ms:
            return True
        self.paused_until_ms = 0
        return False

    def push(self, pushed: PushedFrame) -> None:
        """A router delivery for this session."""
        try:
            data = self._codec.encode_pushed(pushed)
        except DecodeError:
            log.warning("router sent an undecodable frame; dropped")
            return
        if not self.outbox.put(data):
            self._slow_consumer()

    async def finish(self) -> None:
        """The transport ended (peer closed or we did): forget the session, stop the tasks."""
        self._apply(self.session.closing(CloseCode.GOING_AWAY, "disconnected"))
        self._release()
        self._ctx.hub.discard(self)
        for task in list(self._tasks or ()):
            task.cancel()
        await self.outbox.stop()

    async def close(self, code: int, reason: str) -> None:
        """Close from the server side (shutdown) and wait for it to finish."""
        self._apply(self.session.closing(code, reason))
        await self.outbox.wait_closed()

    # ---------------------------------------------------------------- actions

    def _apply(self, actions: list[Action], raw: bytes | None = None) -> None:
        """Carry out `actions`; `raw` is the wire form of the frame they answer, if known."""
        for action in actions:
            if isinstance(action, Reply):
                self._reply(action.frame)
            elif isinstance(action, ToRouter):
                self._forward(action.frame, raw)
            elif isinstance(action, ToMessaging):
                self._spawn(self._query(action))
            elif isinstance(action, Opened):
                self._open(action)
            elif isinstance(action, Close):
                self._close(action)
            elif isinstance(action, Throttle):
                self._throttle(action.ms)

    def _reply(self, frame: ServerFrame) -> None:
        if not self.outbox.put(self._codec.encode(frame)):
            self._slow_consumer()

    def _forward(self, frame: ClientFrame, raw: bytes | None) -> None:
        if telemetry.tracing_enabled():  # the trace context changes: re-encode
            with _tracer.start_as_current_span("edge.receive", context=telemetry.context_from(frame.trace)):
                frame.trace.clear()
                telemetry.inject_into(frame.trace)
                accepted = self._ctx.router.forward(self.ref, frame)
        else:
            accepted = self._ctx.router.forward(self.ref, frame, raw)
        if not accepted:
            self._reply(error_frame(frame.ref, ErrorCode.UNAVAILABLE, "router unavailable, retry"))

    def _throttle(self, ms: int) -> None:
        if self.paused_until_ms:
            return
        self.paused_until_ms = _monotonic_ms() + ms
        pause: Callable[[int], None] | None = getattr(self._transport, "pause_reading", None)
        if pause is not None:
            pause(ms)

    def _open(self, action: Opened) -> None:
        self.ref = SessionRef(
            session_id=action.session_id, user_id=action.user_id, device_id=action.device_id
        )
        self._opened = True
        self._ctx.hub.register(self)
        self._ctx.router.opened(self.ref)
        self._ctx.presence.opened(self.ref)

    def _close(self, action: Close) -> None:
        self.close_code = action.code
        self._release()
        self.outbox.close(action.code, action.reason)

    def _release(self) -> None:
        """Tell routers and presence the session is gone (once), before the socket is down."""
        if not self._opened:
            return
        self._opened = False
        self._ctx.hub.unregister(self)
        self._ctx.router.closed(self.ref, self.session.graceful)
        self._ctx.presence.closed(self.ref)

    def _slow_consumer(self) -> None:
        if self.outbox.closed:
            return
        self.close_code = CloseCode.SLOW_CONSUMER
        self.session.closing(CloseCode.SLOW_CONSUMER, ErrorCode.SLOW_CONSUMER.value)
        self._release()
        error = error_frame(0, ErrorCode.SLOW_CONSUMER, "send queue full: read faster", fatal=True)
        self.outbox.close(
            CloseCode.SLOW_CONSUMER,
            ErrorCode.SLOW_CONSUMER.value,
            [self._codec.encode(error)],
            drop_queued=True,
        )

    # ---------------------------------------------------------------- queries

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _query(self, query: ToMessaging) -> None:
        if query.kind in (QueryKind.LOG_IN, QueryKind.SIGN_UP):
            try:
                reply = await self._ctx.queries.authenticate(query, self.peer)
            except HubbubError as exc:
                actions = self.session.auth_failed(query.ref, exc)
            except Exception:  # the boundary: a bug becomes INTERNAL, never a traceback
                log.exception("authentication failed unexpectedly")
                actions = self.session.auth_failed(query.ref, Internal("internal error"))
            else:
                actions = self.session.authenticated(
                    query.ref, reply.user_id, reply.token, self._ctx.clock.now_ms()
                )
            self._apply(actions)
            return
        try:
            frames = await self._ctx.queries.answer(query)
        except HubbubError as exc:
            frames = [error_from(query.ref, exc)]
        except Exception:  # the boundary: a bug becomes INTERNAL, never a traceback
            log.exception("query %s failed", query.kind.value)
            frames = [error_from(query.ref, Internal("internal error"))]
        if not self.outbox.closed:
            for frame in frames:
                self._reply(frame)
