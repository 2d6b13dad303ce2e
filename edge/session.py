"""The sans-I/O session core: one object per client connection, frames in, actions out.

Modelled on python-websockets' Protocol: it never awaits, never touches a socket or a
clock; the caller passes `now` (ms) and carries out the returned actions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from edge.actions import (
    PUSH_TARGET_KINDS,
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
from edge.frames import error_frame, error_from, rate_limited_frame
from edge.inbound_limits import WHAT, ConnectionLimits, InboundRates, UserLimits, class_of
from edge.media import MediaUrls, check_download_request
from edge.push_validation import check_webpush_host
from edge.validation import check_ranges, trim_trace
from kernel.errors import ErrorCode, HubbubError, InvalidArgument, TooLarge, Unauthenticated, Unavailable
from kernel.limits import (
    MAX_BODY_CHARS,
    MAX_CLIENT_MSG_ID_CHARS,
    MAX_CONTENT_TYPE_CHARS,
    MAX_DEVICE_ID_CHARS,
    MAX_DISPLAY_NAME_CHARS,
    MAX_EARLY_BYTES,
    MAX_EARLY_FRAMES,
    MAX_PASSWORD_CHARS,
    MAX_PAYLOAD_BYTES,
    MIN_PASSWORD_CHARS,
    USER_ID_PATTERN,
)
from kernel.tokens import verify_token
from kernel.webpush_hosts import DEFAULT_WEBPUSH_HOSTS
from protos.client_pb2 import ClientFrame, Credentials, Pong, SendMessage, ServerFrame, Welcome

# Frames the router owns; the edge only validates and forwards them.
ROUTED = frozenset(
    {
        "send",
        "delete_message",
        "delivered",
        "read",
        "typing",
        "open_direct",
        "create_group",
        "update_group",
        "contact",
    }
)
QUERIES = {
    "history": QueryKind.HISTORY,
    "list_conversations": QueryKind.LIST_CONVERSATIONS,
    "read_by": QueryKind.READ_BY,
    "resume": QueryKind.RESUME,
    "log_out_everywhere": QueryKind.LOG_OUT_EVERYWHERE,
    "request_downloads": QueryKind.MEDIA_DOWNLOADS,
    "confirm_upload": QueryKind.MEDIA_CONFIRM,
    "push_register": QueryKind.PUSH_REGISTER,
    "push_list": QueryKind.PUSH_LIST,
    "push_delete": QueryKind.PUSH_DELETE,
}
LOCAL = frozenset({"request_upload"})
"""Frames the edge answers itself, with no service call (it signs the upload URL)."""


class State(Enum):
    AWAITING_HELLO = "awaiting_hello"
    AUTHENTICATING = "authenticating"  # a log_in / sign_up / token check is with messaging
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class SessionSettings:
    edge_id: str
    token_secret: str
    heartbeat_interval_ms: int
    heartbeat_timeout_ms: int
    media: MediaUrls | None = None
    """Signs media URLs; None = attachments are off (UNAVAILABLE)."""
    webpush_hosts: tuple[str, ...] = DEFAULT_WEBPUSH_HOSTS
    """Hosts a Web Push endpoint may name (kernel/webpush_hosts.py)."""


class Session:
    """Protocol state of one connection. Every public method returns the actions to perform.

    Slotted (one per idle client). `users` holds the per-user buckets shared by every session
    of the edge (a fresh table when not given: tests)."""

    __slots__ = (
        "_early",
        "_early_bytes",
        "_last_received_ms",
        "_limits",
        "device_id",
        "graceful",
        "session_id",
        "settings",
        "state",
        "user_id",
    )  # fmt: skip

    def __init__(
        self, session_id: int, settings: SessionSettings, now_ms: int, users: UserLimits | None = None
    ) -> None:
        self.session_id = session_id
        self.settings = settings
        self.state = State.AWAITING_HELLO
        self.user_id = ""
        self.device_id = ""
        self.graceful = False  # set by Goodbye: routers learn the close was intended
        self._last_received_ms = now_ms
        self._limits = ConnectionLimits(users if users is not None else UserLimits(InboundRates()))
        # Frames pipelined behind a token hello, held while the token is checked; None otherwise.
        self._early: list[ClientFrame] | None = None
        self._early_bytes = 0

    # ------------------------------------------------------------------ inputs

    def receive(self, frame: ClientFrame, now_ms: int) -> list[Action]:
        """One decoded client frame."""
        if self.state is State.CLOSED:
            return []
        self._last_received_ms = now_ms
        kind = frame.WhichOneof("kind")
        if self.state is State.AWAITING_HELLO:
            if kind != "hello":
                return self._fail(frame.ref, Unauthenticated("the first frame must be a hello"))
            return self._hello(frame, now_ms)
        if kind == "ping":
            return [Reply(_pong(frame, now_ms))]
        if kind == "goodbye":
            self.graceful = True
            return self._close(CloseCode.NORMAL, "goodbye")
        if self.state is State.AUTHENTICATING:
            if self._early is not None and self._hold_early(frame):
                return []
            return [Reply(error_frame(frame.ref, ErrorCode.UNAUTHENTICATED, "wait for the welcome"))]
        if kind in ROUTED or kind in QUERIES or kind in LOCAL:
            limited = self._rate_limit(frame.ref, kind, now_ms)
            if limited is not None:
                return limited
            try:
                check_ranges(frame, kind)  # every id and number, for every kind (edge/validation.py)
                if kind == "push_register":
                    check_webpush_host(frame, self.settings.webpush_hosts)
            except HubbubError as exc:
                return [Reply(error_from(frame.ref, exc))]
        if kind in ROUTED:
            return self._routed(frame, kind, now_ms)
        if kind in QUERIES:
            return self._query(frame, QUERIES[kind])
        if kind == "request_upload":
            return self._upload(frame, now_ms)
        if kind == "hello":
            return [Reply(error_frame(frame.ref, ErrorCode.INVALID_ARGUMENT, "already authenticated"))]
        return [Reply(error_frame(frame.ref, ErrorCode.BAD_FRAME, "unknown or empty frame kind"))]

    def bad_frame(self, detail: str, now_ms: int, ref: int = 0) -> list[Action]:
        """Bytes that did not decode (`ref`: the frame's, when it could be read all the same).
        The frame boundary is intact, so an authenticated connection survives it; before the
        handshake it is a protocol violation."""
        if self.state is State.CLOSED:
            return []
        self._last_received_ms = now_ms
        if self.state is State.AWAITING_HELLO:
            return [
                Reply(error_frame(ref, ErrorCode.BAD_FRAME, detail, fatal=True)),
                *self._close(CloseCode.BAD_FRAME, ErrorCode.BAD_FRAME.value),
            ]
        return [Reply(error_frame(ref, ErrorCode.BAD_FRAME, detail))]

    def authenticated(self, ref: int, user_id: str, token: str, now_ms: int) -> list[Action]:
        """Messaging accepted a log_in / sign_up (or the token's user and generation)."""
        if self.state is not State.AUTHENTICATING:
            return []
        early, self._early = self._early, None
        actions = self._open(ref, user_id, token, now_ms)
        for frame in early or ():
            actions.extend(self.receive(frame, now_ms))
        return actions

    def auth_failed(self, ref: int, error: HubbubError) -> list[Action]:
        """Messaging refused (or could not answer) a log_in / sign_up / token check."""
        if self.state is not State.AUTHENTICATING:
            return []
        self._early = None
        return self._fail(ref, error)

    def tick(self, now_ms: int) -> list[Action]:
        """Called periodically: closes a connection that went silent (or never said hello)."""
        if self.state is State.CLOSED:
            return []
        if now_ms - self._last_received_ms >= self.settings.heartbeat_timeout_ms:
            return [
                Reply(error_frame(0, ErrorCode.HEARTBEAT_TIMEOUT, "no frame within the timeout", fatal=True)),
                *self._close(CloseCode.HEARTBEAT_TIMEOUT, ErrorCode.HEARTBEAT_TIMEOUT.value),
            ]
        return []

    def closing(self, code: int, reason: str) -> list[Action]:
        """The I/O layer closes on its own (slow consumer, shutdown): mark the session closed."""
        return self._close(code, reason)

    # ------------------------------------------------------------------ rules

    def _hello(self, frame: ClientFrame, now_ms: int) -> list[Action]:
        hello = frame.hello
        device_id = hello.device_id or self._generated_device_id()
        if len(device_id) > MAX_DEVICE_ID_CHARS:
            too_long = InvalidArgument(f"deviceId longer than {MAX_DEVICE_ID_CHARS} characters")
            return self._fail(frame.ref, too_long)
        self.device_id = device_id
        auth = hello.WhichOneof("auth")
        if auth == "token":
            try:
                claims = verify_token(self.settings.token_secret, hello.token, now_ms)
            except Unauthenticated as exc:
                return self._fail(frame.ref, exc)
            self.state = State.AUTHENTICATING  # until the user and generation are checked
            self._early, self._early_bytes = [], 0  # a token client may pipeline behind its hello
            return [CheckToken(frame.ref, claims)]
        if auth in ("log_in", "sign_up"):
            refused = _credentials_refused(hello.log_in if auth == "log_in" else hello.sign_up, auth)
            if refused is not None:
                return self._fail(frame.ref, refused)
            self.state = State.AUTHENTICATING
            kind = QueryKind.LOG_IN if auth == "log_in" else QueryKind.SIGN_UP
            return [ToMessaging(kind, frame.ref, "", frame)]
        return self._fail(frame.ref, Unauthenticated("hello needs a token, logIn or signUp"))

    def _hold_early(self, frame: ClientFrame) -> bool:
        assert self._early is not None
        size = frame.ByteSize()
        if len(self._early) >= MAX_EARLY_FRAMES or self._early_bytes + size > MAX_EARLY_BYTES:
            return False
        self._early.append(frame)
        self._early_bytes += size
        return True

    def _generated_device_id(self) -> str:
        # Unique on this edge and returned in Welcome so the client can keep it.
        return f"auto-{self.settings.edge_id}-{self.session_id}"[-MAX_DEVICE_ID_CHARS:]

    def _open(self, ref: int, user_id: str, token: str, now_ms: int) -> list[Action]:
        self.state = State.OPEN
        self.user_id = user_id
        welcome = Welcome(
            user_id=user_id,
            device_id=self.device_id,
            session_id=self.session_id,
            heartbeat_interval_ms=self.settings.heartbeat_interval_ms,
            heartbeat_timeout_ms=self.settings.heartbeat_timeout_ms,
            token=token,
            max_body_chars=MAX_BODY_CHARS,
            server_time_ms=now_ms,
            edge_id=self.settings.edge_id,
        )
        return [
            Reply(ServerFrame(ref=ref, welcome=welcome)),
            Opened(self.session_id, user_id, self.device_id),
        ]

    def _routed(self, frame: ClientFrame, kind: str, now_ms: int) -> list[Action]:
        try:
            if kind == "send":
                validate_send(frame.send)  # ids were checked with every kind's (check_ranges)
                if frame.send.HasField("media"):
                    self._media().check_send(frame.send, self.user_id)
        except HubbubError as exc:
            return [Reply(error_from(frame.ref, exc))]
        if frame.trace:
            trim_trace(frame.trace)
        return [ToRouter(frame)]

    def _rate_limit(self, ref: int, kind: str, now_ms: int) -> list[Action] | None:
        """None when the frame may pass; else what to do with it: dropped, answered with one
        RATE_LIMITED (echoing its ref) per class and interval, so a flood is not answered with
        a flood."""
        limit_class = class_of(kind)
        verdict = self._limits.check(limit_class, self.user_id, now_ms)
        if verdict.allowed:
            return None
        if not verdict.answer:
            # Told already, and sending on regardless: a flood. Stop reading it for a while.
            return [Throttle(self._limits.users.rates.error_interval_ms)]
        message = f"too many {WHAT[limit_class]}: retry after {verdict.retry_after_ms} ms"
        return [Reply(rate_limited_frame(ref, message, verdict.retry_after_ms))]

    def _media(self) -> MediaUrls:
        if self.settings.media is None:
            raise Unavailable("media is not configured on this node")
        return self.settings.media

    def _upload(self, frame: ClientFrame, now_ms: int) -> list[Action]:
        try:
            return [Reply(self._media().upload(frame.ref, self.user_id, frame.request_upload, now_ms))]
        except HubbubError as exc:
            return [Reply(error_from(frame.ref, exc))]

    def _query(self, frame: ClientFrame, kind: QueryKind) -> list[Action]:
        if kind in (QueryKind.MEDIA_DOWNLOADS, QueryKind.MEDIA_CONFIRM):
            try:
                self._media()
                if kind is QueryKind.MEDIA_DOWNLOADS:
                    check_download_request(frame.request_downloads)
            except HubbubError as exc:
                return [Reply(error_from(frame.ref, exc))]
        device = self.device_id if kind in PUSH_TARGET_KINDS else ""  # those frames are about it
        return [ToMessaging(kind, frame.ref, self.user_id, frame, device)]

    def _fail(self, ref: int, error: HubbubError) -> list[Action]:
        """A handshake failure: one fatal Error frame, then close."""
        code = (
            CloseCode.INTERNAL
            if error.code in (ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL)
            else CloseCode.TRY_AGAIN_LATER
            if error.code is ErrorCode.RATE_LIMITED
            else (CloseCode.UNAUTHENTICATED)
        )
        return [Reply(error_from(ref, error, fatal=True)), *self._close(code, error.code.value)]

    def _close(self, code: int, reason: str) -> list[Action]:
        if self.state is State.CLOSED:
            return []
        self.state = State.CLOSED
        return [Close(code, reason)]


def validate_send(send: SendMessage) -> None:
    """Edge-side checks of a message, so oversize or malformed sends never reach a router
    (its conversation_id is range-checked with every other id, in edge/validation.py)."""
    if not send.client_msg_id:
        raise InvalidArgument("send needs a clientMsgId (the idempotency key)")
    if len(send.client_msg_id) > MAX_CLIENT_MSG_ID_CHARS:
        raise InvalidArgument(f"clientMsgId longer than {MAX_CLIENT_MSG_ID_CHARS} characters")
    if len(send.content_type) > MAX_CONTENT_TYPE_CHARS:
        raise InvalidArgument(f"contentType longer than {MAX_CONTENT_TYPE_CHARS} characters")
    if not send.body and not send.payload and not send.HasField("media"):
        raise InvalidArgument("send needs a body, a payload or media")
    if len(send.body) > MAX_BODY_CHARS:
        raise TooLarge(f"body longer than {MAX_BODY_CHARS} characters")
    if len(send.payload) > MAX_PAYLOAD_BYTES:
        raise TooLarge(f"payload larger than {MAX_PAYLOAD_BYTES} bytes")


def _pong(frame: ClientFrame, now_ms: int) -> ServerFrame:
    return ServerFrame(
        ref=frame.ref, pong=Pong(client_time_ms=frame.ping.client_time_ms, server_time_ms=now_ms)
    )


_USER_ID = re.compile(USER_ID_PATTERN)


def _credentials_refused(credentials: Credentials, auth: str) -> HubbubError | None:
    """Credentials no account can have, refused at the edge with the answer messaging would
    give (a log-in: the one error for every failure), so they never reach messaging's
    throttle or hasher. A sign-up's short password is left to messaging, which says why."""
    valid_id = _USER_ID.fullmatch(credentials.user_id) is not None
    if auth == "log_in":
        if valid_id and len(credentials.password) <= MAX_PASSWORD_CHARS:
            return None
        return Unauthenticated("wrong user id or password")
    if not valid_id:
        return InvalidArgument("user id must be 1..32 characters of a-z, 0-9, '_', '.', '-'")
    if len(credentials.password) > MAX_PASSWORD_CHARS:
        return InvalidArgument(f"password must be {MIN_PASSWORD_CHARS}..{MAX_PASSWORD_CHARS} characters")
    if len(credentials.display_name) > MAX_DISPLAY_NAME_CHARS:
        return InvalidArgument(f"display name must be at most {MAX_DISPLAY_NAME_CHARS} characters")
    return None
