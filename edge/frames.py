"""Builders for the ServerFrames the edge itself writes (errors, pongs, welcomes).

Kept apart from the session rules so every error frame looks the same wherever it is made.
"""

from __future__ import annotations

from kernel.errors import ErrorCode, HubbubError, RateLimited, is_retryable
from protos.client_pb2 import Error, ServerFrame


def error_frame(ref: int, code: ErrorCode, message: str, *, fatal: bool = False) -> ServerFrame:
    """An Error frame; `retryable` follows from the code so clients can rely on it."""
    return ServerFrame(
        ref=ref,
        error=Error(code=code.value, message=message, retryable=is_retryable(code), fatal=fatal),
    )


def error_from(ref: int, exc: HubbubError, *, fatal: bool = False) -> ServerFrame:
    """The Error frame for a typed error (its message is meant for clients)."""
    frame = error_frame(ref, exc.code, exc.message, fatal=fatal)
    if isinstance(exc, RateLimited):
        frame.error.retry_after_ms = exc.retry_after_ms
    return frame


def rate_limited_frame(ref: int, message: str, retry_after_ms: int) -> ServerFrame:
    """RATE_LIMITED echoing the refused frame's ref, with when to try again."""
    frame = error_frame(ref, ErrorCode.RATE_LIMITED, message)
    frame.error.retry_after_ms = retry_after_ms
    return frame
