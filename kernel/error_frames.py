"""The client-facing `Error` message, filled from the error tree in one place: the edge, the
router and messaging all build it here, so every Error carries the same fields (a RATE_LIMITED
its retry_after_ms, wherever it was raised)."""

from __future__ import annotations

from kernel.errors import ErrorCode, HubbubError, RateLimited, is_retryable
from kernel.metrics import errors_by_code
from protos.client_pb2 import Error


def fill_error(
    target: Error, code: ErrorCode, message: str, *, retry_after_ms: int = 0, fatal: bool = False
) -> Error:
    """Set an Error (a new one, or a frame's submessage in place); `retryable` follows from the
    code (kernel.errors.is_retryable), so clients can rely on it. Returns `target`."""
    target.code = code.value
    errors_by_code(code.value).inc()
    target.message = message
    target.retryable = is_retryable(code)
    target.fatal = fatal
    target.retry_after_ms = retry_after_ms
    return target


def error_pb(error: HubbubError, *, fatal: bool = False) -> Error:
    """The Error for a typed error: its message is meant for clients."""
    return fill_from(Error(), error, fatal=fatal)


def fill_from(target: Error, error: HubbubError, *, fatal: bool = False) -> Error:
    wait = error.retry_after_ms if isinstance(error, RateLimited) else 0
    return fill_error(target, error.code, error.message, retry_after_ms=wait, fatal=fatal)


__all__ = ["error_pb", "fill_error", "fill_from"]
