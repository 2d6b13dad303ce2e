"""Builders for the ServerFrames the edge itself writes (errors, pongs, welcomes).

Kept apart from the session rules so every error frame looks the same wherever it is made;
the Error inside is filled by kernel.error_frames, as the router's and messaging's are.
"""

from __future__ import annotations

from kernel.error_frames import fill_error, fill_from
from kernel.errors import ErrorCode, HubbubError
from protos.client_pb2 import ServerFrame


def error_frame(ref: int, code: ErrorCode, message: str, *, fatal: bool = False) -> ServerFrame:
    """An Error frame; `retryable` follows from the code so clients can rely on it."""
    frame = ServerFrame(ref=ref)
    fill_error(frame.error, code, message, fatal=fatal)
    return frame


def error_from(ref: int, exc: HubbubError, *, fatal: bool = False) -> ServerFrame:
    """The Error frame for a typed error (its message is meant for clients)."""
    frame = ServerFrame(ref=ref)
    fill_from(frame.error, exc, fatal=fatal)
    return frame


def rate_limited_frame(ref: int, message: str, retry_after_ms: int) -> ServerFrame:
    """RATE_LIMITED echoing the refused frame's ref, with when to try again."""
    frame = ServerFrame(ref=ref)
    fill_error(frame.error, ErrorCode.RATE_LIMITED, message, retry_after_ms=retry_after_ms)
    return frame
