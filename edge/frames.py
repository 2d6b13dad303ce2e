"""Builders for the ServerFrames the edge itself writes (errors, pongs, welcomes).

Kept apart from the session rules so every error frame looks the same wherever it is made.
"""

from __future__ import annotations

from kernel.errors import ErrorCode, HubbubError, is_retryable
from protos.client_pb2 import Error, ServerFrame


def error_frame(ref: int, code: ErrorCode, message: str, *, fatal: bool = False) -> ServerFrame:
    """An Error frame; `retryable` follows from the code so clients can rely on it."""
    return ServerFrame(
        ref=ref,
        error=Error(code=code.value, message=message, retryable=is_retryable(code), fatal=fatal),
    )


def error_from(ref: int, exc: HubbubError, *, fatal: bool = False) -> ServerFrame:
    """The Error frame for a typed error (its message is meant for clients)."""
    return error_frame(ref, exc.code, exc.message, fatal=fatal)
