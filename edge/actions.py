"""What the sans-I/O session core asks its I/O layer to do: plain values, no behaviour.

The session returns lists of these; websocket_server / grpc_gateway carry them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from kernel.tokens import TokenClaims
from protos.client_pb2 import ClientFrame, ServerFrame


class CloseCode:
    """Close codes (WebSocket close frames; mapped to gRPC statuses on the Gateway)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    INTERNAL = 1011
    TRY_AGAIN_LATER = 1013  # a log-in or sign-up refused by a rate limit: wait retryAfterMs
    BAD_FRAME = 4000
    UNAUTHENTICATED = 4001
    HEARTBEAT_TIMEOUT = 4008
    SLOW_CONSUMER = 4009
    RECONNECT = 4010  # the edge is draining: the client was sent Reconnect and stayed


class QueryKind(Enum):
    LOG_IN = "log_in"
    SIGN_UP = "sign_up"
    HISTORY = "history"
    LIST_CONVERSATIONS = "list_conversations"
    READ_BY = "read_by"
    RESUME = "resume"
    LOG_OUT_EVERYWHERE = "log_out_everywhere"
    MEDIA_DOWNLOADS = "media_downloads"  # membership from messaging, URLs signed by the edge
    MEDIA_CONFIRM = "media_confirm"  # the object store's head, then a receipt signed by the edge
    PUSH_REGISTER = "push_register"
    PUSH_LIST = "push_list"
    PUSH_DELETE = "push_delete"


PUSH_TARGET_KINDS = frozenset({QueryKind.PUSH_REGISTER, QueryKind.PUSH_LIST, QueryKind.PUSH_DELETE})
"""Queries about the session's own device: they carry its device id to messaging."""


@dataclass(frozen=True, slots=True)
class Reply:
    """Send this frame to the client."""

    frame: ServerFrame


@dataclass(frozen=True, slots=True)
class ToRouter:
    """Forward this (validated) frame over the router link, stamped with the session."""

    frame: ClientFrame


@dataclass(frozen=True, slots=True)
class ToMessaging:
    """A read-only query the I/O layer performs; its answer goes back to the client with `ref`.

    For LOG_IN / SIGN_UP the I/O layer reports the outcome with `Session.authenticated`
    or `Session.auth_failed` instead of replying itself.
    """

    kind: QueryKind
    ref: int
    user_id: str
    frame: ClientFrame
    device_id: str = ""  # the session's device (push target frames are about it)


@dataclass(frozen=True, slots=True)
class CheckToken:
    """A correctly signed token: the I/O layer checks that its user exists and that it was
    issued at the user's current generation (not revoked), then reports with
    `Session.authenticated` or `Session.auth_failed`."""

    ref: int
    claims: TokenClaims


@dataclass(frozen=True, slots=True)
class Opened:
    """The session authenticated: register it, announce it to routers and presence."""

    session_id: int
    user_id: str
    device_id: str


@dataclass(frozen=True, slots=True)
class Close:
    """Flush what is queued, then close the connection with this code."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Throttle:
    """The client sends into a limit: read nothing more from it for `ms` (frames already read
    are still judged, each by its own class's bucket), so a flood costs the edge a read per
    pause, not work per frame."""

    ms: int


Action = Reply | ToRouter | ToMessaging | CheckToken | Opened | Close | Throttle
