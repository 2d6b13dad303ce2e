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

from edge import metrics, wire
from edge.actions import (
    Action,
    CheckToken,
    Close,
    CloseCode,
    Opened,
    QueryKind,
    Reply,
    Throttle,
    ToMessaging,
    ToRouter,
)
from edge.codec import Codec, PushedFrame, UndecodableFrame
from edge.config import DEFAULT_SEND_QUEUE_BYTES
from edge.frames import error_frame, error_from
from edge.held import RECEIPT_KINDS, HeldQueries
from edge.hub import Hub
from edge.inbound_limits import InboundRates, UserLimits
from edge.outbox import Outbox, Transport
from edge.revocations import REVOKED_DETAIL, Revocations, revoked_by
from edge.session import Session, SessionSettings
from edge.token_check import MISSING, TokenGenerations
from kernel import telemetry
from kernel.clock import Clock
from kernel.errors import BadFrame, ErrorCode, HubbubError, Internal
from kernel.log_limit import LogAtMostEvery
from kernel.tokens import TokenClaims, check_generation, verify_token
from protos.client_pb2 import ClientFrame, LoggedOut, ServerFrame
from protos.messaging_pb2 import AuthReply
from protos.router_pb2 import SessionRef

log = logging.getLogger(__name__)
_refused_auth = LogAtMostEvery(log)  # refused log-ins and sign-ups, edge-wide
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

    async def revoke_tokens(self, user_id: str) -> int:
        """Log out everywhere; the user's new token generation."""
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
    tokens: TokenGenerations
    send_queue_bytes: int = DEFAULT_SEND_QUEUE_BYTES
    limits: UserLimits = field(default_factory=lambda: UserLimits(InboundRates()))
    """Per-user inbound buckets, shared by all of a user's connections on this edge."""
    revocations: Revocations | None = None
    """Where a log-out-everywhere taken here is published for the other edges (None: no bus)."""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_session_id(self) -> int:
        return next(self._ids)


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class Connection:
    """One client connection. Call `start`, feed `on_data` (both transports), then `finish`.

    Slotted, and its query-task set made on first use: one of these per idle client."""

    __slots__ = (
        "_codec", "_connections", "_ctx", "_held", "_opened", "_tasks", "_transport", "close_code",
        "outbox", "paused_until_ms", "peer", "ref", "session", "token_generation",
    )  # fmt: skip

    def __init__(
        self, ctx: EdgeContext, codec: Codec, transport: Transport, peer: str = "-", kind: str = "ws"
    ) -> None:
        """`kind` names the transport in metrics: ws_json, ws_proto or grpc."""
        self.peer = peer  # the client's address, for log lines (and log-in throttling)
        self._ctx = ctx
        self._codec = codec
        self.peer = peer  # the client's address, for log-in / sign-up throttling
        now = ctx.clock.now_ms()
        self.session = Session(ctx.next_session_id(), ctx.settings, now, ctx.limits)
        self.outbox = Outbox(transport, ctx.send_queue_limit, ctx.send_queue_bytes)
        self.ref = SessionRef(session_id=self.session.session_id)
        self._opened = False
        self._tasks: set[asyncio.Task[None]] | None = None  # queries in flight
        self._held: HeldQueries | None = None  # queries waiting for this session's receipts
        self.close_code: int | None = None
        self.token_generation = 0  # its token's, once authenticated (edge/revocations.py)
        # Throttle: until when nothing more is read from this client. A transport with a
        # `pause_reading(ms)` stops reading meanwhile; the gateway's pump waits instead.
        self.paused_until_ms = 0
        self._transport = transport
        self._connections = metrics.connections(kind)

    def start(self) -> None:
        self.outbox.start()
        self._ctx.hub.add(self)
        self._connections.inc()

    # ---------------------------------------------------------------- inputs

    def on_data(self, data: bytes | str) -> None:
        """One transport message (a WebSocket message or a gRPC stream message).

        Every decoded frame goes to the session, also while a flooder is paused: the pause
        bounds what is read, and each class's bucket judges what was (a send within its
        allowance is served; refusals follow the RATE_LIMITED rules)."""
        self._ctx.hub.frames_in += 1
        try:
            frame = self._codec.decode(data)
        except BadFrame as exc:
            if not self._paused():  # undecodable bytes from a paused flooder: not answered
                ref = exc.ref if isinstance(exc, UndecodableFrame) else 0
                self._apply(self.session.bad_frame(exc.message, self._ctx.clock.now_ms(), ref))
            return
        # A binary payload is the frame's wire form: routed frames reuse it when it is clean.
        raw = data if not self._codec.text and isinstance(data, bytes) else None
        metrics.frames_in(frame.WhichOneof("kind") or "none").inc()
        self._apply(self.session.receive(frame, self._ctx.clock.now_ms()), raw)

    def on_bad_data(self, detail: str) -> None:
        """A transport message that is not even a payload (a text frame that is not UTF-8)."""
        self._apply(self.session.bad_frame(detail, self._ctx.clock.now_ms()))

    def tick(self, now_ms: int) -> None:
        self._apply(self.session.tick(now_ms))

    def pause_left_ms(self) -> int:
        """How much longer a throttled client's pause runs (0: not paused). Real time, like the
        transport's pause; the gateway's pump waits this long before reading on."""
        if not self.paused_until_ms:
            return 0
        left = self.paused_until_ms - _monotonic_ms()
        if left > 0:
            return left
        self.paused_until_ms = 0
        return 0

    def _paused(self) -> bool:
        return self.pause_left_ms() > 0

    def push(self, pushed: PushedFrame) -> None:
        """A router delivery for this session."""
        try:
            data = self._codec.encode_pushed(pushed)
            held = self._held
            if held is not None and held.waiting:
                held.answered(pushed.frame())
        except DecodeError:
            log.warning(
                "router sent an undecodable frame; dropped (%s)", self.describe(), extra=self.log_fields()
            )
            return
        if not self.outbox.put(data):
            self._slow_consumer()
        if held is not None and not held.waiting:
            self._run_held()

    async def finish(self) -> None:
        """The transport ended (peer closed or we did): forget the session, stop the tasks."""
        self._apply(self.session.closing(CloseCode.GOING_AWAY, "disconnected"))
        self._release()
        self._ctx.hub.discard(self)
        self._connections.dec()
        for task in list(self._tasks or ()):
            task.cancel()
        if self._held is not None:
            self._held.clear()
        await self.outbox.stop()
        how = "by the client" if self.close_code is None else f"with code {self.close_code}"
        level = logging.INFO if self.ref.user_id else logging.DEBUG  # unauthenticated: noise
        log.log(level, "session closed %s (%s)", how, self.describe(), extra=self.log_fields())

    def describe(self) -> str:
        """Who this connection is, for every log line about it."""
        ref = self.ref
        user, device = ref.user_id or "-", ref.device_id or "-"
        return f"session={ref.session_id} user={user} device={device} peer={self.peer}"

    def log_fields(self) -> dict[str, object]:
        """The same, as fields of a structured (JSON) log line (kernel.logs.CONNECTION_FIELDS)."""
        ref = self.ref
        return {"session": ref.session_id, "user": ref.user_id, "device": ref.device_id, "peer": self.peer}

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
                if self._held is not None and self._held.hold(action):
                    continue  # answered once this session's earlier receipts are stored
                self._spawn(self._query(action))
            elif isinstance(action, CheckToken):
                self._check_token(action)
            elif isinstance(action, Opened):
                self._open(action)
            elif isinstance(action, Close):
                self._close(action)
            elif isinstance(action, Throttle):
                self._throttle(action.ms)

    def _reply(self, frame: ServerFrame) -> None:
        metrics.frames_out(frame.WhichOneof("kind") or "none").inc()
        if not self.outbox.put(self._codec.encode(frame)):
            self._slow_consumer()

    def _forward(self, frame: ClientFrame, raw: bytes | None) -> None:
        # Only known fields travel on: unknown ones (padding, a newer client's extras) would
        # ride along in every batch. The raw bytes are reused only when they are exactly the
        # known fields' encoding (same size: nothing extra, no overlong or repeated fields).
        frame.DiscardUnknownFields()
        size = frame.ByteSize()
        if raw is not None and len(raw) != size:
            raw = None
        if size > wire.MAX_FRAME_BYTES:  # no batch could carry it: answered and dropped here
            self._reply(error_frame(frame.ref, ErrorCode.TOO_LARGE, "frame too large to route"))
            return
        if telemetry.tracing_enabled():  # the trace context changes: re-encode
            parent = telemetry.context_from(frame.trace)
            links = None
            if frame.HasField("delivered"):  # linked to the traces of the messages it acks
                links = self._ctx.hub.delivery_traces.delivered(self.ref.user_id, frame.delivered.cursors)
            with _tracer.start_as_current_span("edge.receive", context=parent, links=links):
                frame.trace.clear()
                telemetry.inject_into(frame.trace)
                accepted = self._ctx.router.forward(self.ref, frame)
        else:
            accepted = self._ctx.router.forward(self.ref, frame, raw)
        if not accepted:
            self._reply(error_frame(frame.ref, ErrorCode.UNAVAILABLE, "router unavailable, retry"))
        elif frame.WhichOneof("kind") in RECEIPT_KINDS:
            if self._held is None:
                self._held = HeldQueries(self._run_held)
            self._held.sent(frame.ref)

    def _throttle(self, ms: int) -> None:
        if self._paused():
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
        log.info("session opened (%s)", self.describe(), extra=self.log_fields())

    def _close(self, action: Close) -> None:
        self.close_code = action.code
        self._release()
        self.outbox.close(action.code, action.reason)
        self._cancel_queries()

    def _cancel_queries(self) -> None:
        """Nothing can be answered once the outbox closed: stop fetching what nobody reads."""
        current = asyncio.current_task()
        for task in list(self._tasks or ()):
            if task is not current:
                task.cancel()

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
        metrics.SLOW_CONSUMER_CLOSES.inc()
        self.session.closing(CloseCode.SLOW_CONSUMER, ErrorCode.SLOW_CONSUMER.value)
        self._release()
        error = error_frame(0, ErrorCode.SLOW_CONSUMER, "send queue full: read faster", fatal=True)
        self.outbox.close(
            CloseCode.SLOW_CONSUMER,
            ErrorCode.SLOW_CONSUMER.value,
            [self._codec.encode(error)],
            drop_queued=True,
        )
        self._cancel_queries()

    # ---------------------------------------------------------------- queries

    def _run_held(self) -> None:
        held = self._held
        if held is None or self.outbox.closed:
            return
        for query in held.release():
            self._spawn(self._query(query))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _check_token(self, action: CheckToken) -> None:
        """Answered at once from the cache when it can be (the reconnect-storm hot path)."""
        cached = self._ctx.tokens.cached(action.claims.user_id)
        if cached is None:
            self._spawn(self._check_token_later(action))
        else:
            self._apply(self._token_verdict(action.ref, action.claims, cached))

    async def _check_token_later(self, action: CheckToken) -> None:
        try:
            current = await self._ctx.tokens.current(action.claims.user_id)
        except HubbubError as exc:
            self._apply(self.session.auth_failed(action.ref, exc))
            return
        self._apply(self._token_verdict(action.ref, action.claims, current))

    def _token_verdict(self, ref: int, claims: TokenClaims, current: int) -> list[Action]:
        try:
            check_generation(claims, None if current == MISSING else current)
        except HubbubError as exc:
            return self.session.auth_failed(ref, exc)
        self.token_generation = claims.generation
        return self.session.authenticated(ref, claims.user_id, "", self._ctx.clock.now_ms())

    def _learn_generation(self, token: str, now_ms: int) -> None:
        try:
            claims = verify_token(self._ctx.settings.token_secret, token, now_ms)
        except HubbubError:  # not for us to judge here: the client will find out on reconnect
            return
        self._ctx.tokens.learned(claims.user_id, claims.generation)
        self.token_generation = claims.generation

    def send(self, frame: ServerFrame) -> None:
        self._reply(frame)

    def shut(self, code: int, reason: str) -> None:
        self._apply(self.session.closing(code, reason))

    def queued_bytes(self) -> int:
        return self.outbox.queued_bytes

    def revoke(self, detail: str) -> None:
        """The user logged out everywhere: one fatal UNAUTHENTICATED error, then close 4001."""
        self._reply(error_frame(0, ErrorCode.UNAUTHENTICATED, detail, fatal=True))
        self._apply(self.session.closing(CloseCode.UNAUTHENTICATED, ErrorCode.UNAUTHENTICATED.value))

    async def _log_out_everywhere(self, query: ToMessaging) -> None:
        """Revoke every token of the user; close the user's sessions on this edge (this one after
        its answer) and publish the revocation: the other edges close theirs (edge/revocations.py).
        Without the event, their sessions' tokens are still refused at the next check (cache TTL)."""
        user_id = query.user_id
        try:
            generation = await self._ctx.queries.revoke_tokens(user_id)
        except HubbubError as exc:
            self._reply(error_from(query.ref, exc))
            return
        self._ctx.tokens.revoked(user_id, generation)
        for member in self._ctx.hub.sessions_of(user_id):
            if member is not self and revoked_by(member.token_generation, generation):
                member.revoke(REVOKED_DETAIL)
        if self._ctx.revocations is not None:
            await self._ctx.revocations.publish(user_id, generation)
        self._reply(ServerFrame(ref=query.ref, logged_out=LoggedOut()))
        self._apply(self.session.closing(CloseCode.UNAUTHENTICATED, "logged out"))

    async def _query(self, query: ToMessaging) -> None:
        if query.kind is QueryKind.LOG_OUT_EVERYWHERE:
            await self._log_out_everywhere(query)
            return
        if query.kind in (QueryKind.LOG_IN, QueryKind.SIGN_UP):
            try:
                reply = await self._ctx.queries.authenticate(query, peer_address(self.peer))
            except HubbubError as exc:
                # A guessing flood would write one line per guess: one line per interval, the
                # rest at DEBUG (the written line says how many it stood for).
                if not _refused_auth.warning(
                    "%s refused: %s (%s)", query.kind.value, exc.code.value, self.describe()
                ):
                    log.debug(
                        "%s refused: %s (%s)",
                        query.kind.value,
                        exc.code.value,
                        self.describe(),
                        extra=self.log_fields(),
                    )
                actions = self.session.auth_failed(query.ref, exc)
            except Exception:  # the boundary: a bug becomes INTERNAL, never a traceback
                log.exception(
                    "authentication failed unexpectedly (%s)", self.describe(), extra=self.log_fields()
                )
                actions = self.session.auth_failed(query.ref, Internal("internal error"))
            else:
                now = self._ctx.clock.now_ms()
                self._learn_generation(reply.token, now)
                actions = self.session.authenticated(query.ref, reply.user_id, reply.token, now)
            self._apply(actions)
            return
        try:
            frames = await self._ctx.queries.answer(query)
        except HubbubError as exc:
            frames = [error_from(query.ref, exc)]
        except Exception:  # the boundary: a bug becomes INTERNAL, never a traceback
            log.exception("query %s failed (%s)", query.kind.value, self.describe(), extra=self.log_fields())
            frames = [error_from(query.ref, Internal("internal error"))]
        if not self.outbox.closed:
            for frame in frames:
                self._reply(frame)


def peer_address(peer: str) -> str:
    """The address in a peer string, without port or scheme ("1.2.3.4:5678", "::1:5678",
    "ipv4:1.2.3.4:5678", "ipv6:[::1]:5678"): what log-ins and sign-ups are throttled by."""
    if peer.startswith(("ipv4:", "ipv6:")):
        peer = peer[5:]
    host, sep, _ = peer.rpartition(":")
    return (host if sep else peer).strip("[]")
