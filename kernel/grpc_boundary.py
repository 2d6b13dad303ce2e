"""Where hubbub errors cross gRPC: servicer side (error -> status + code metadata)
and stub side (AioRpcError -> HubbubError, chained)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import grpc
from grpc import aio

from kernel.errors import ErrorCode, HubbubError, Internal, RateLimited, Unavailable, error_from_code

ERROR_CODE_KEY = "hubbub-error-code"
RETRY_AFTER_KEY = "hubbub-retry-after-ms"
PEER_KEY = "hubbub-peer"  # the client's address, sent by the edge with log-in and sign-up
log = logging.getLogger(__name__)

GRPC_STATUS: dict[ErrorCode, grpc.StatusCode] = {
    ErrorCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.NOT_MEMBER: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.TOO_LARGE: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.BAD_FRAME: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.CONFLICT: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCode.LIMIT_EXCEEDED: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.SLOW_CONSUMER: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.HEARTBEAT_TIMEOUT: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorCode.STALE_OWNER: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.PARTITION_MISMATCH: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
}

S = TypeVar("S")
Q = TypeVar("Q")
R = TypeVar("R")
Context = aio.ServicerContext[Any, Any]


async def abort_with(context: aio.ServicerContext[Any, Any], error: HubbubError) -> None:
    """End the RPC with the error's gRPC status and its stable code in trailing metadata."""
    metadata: tuple[tuple[str, str], ...] = ((ERROR_CODE_KEY, error.code.value),)
    if isinstance(error, RateLimited):
        metadata += ((RETRY_AFTER_KEY, str(error.retry_after_ms)),)
    context.set_trailing_metadata(metadata)
    await context.abort(GRPC_STATUS[error.code], error.message)


def servicer_errors(
    method: Callable[[S, Q, Context], Awaitable[R]],
) -> Callable[[S, Q, Context], Awaitable[R]]:
    """Decorate a unary servicer method: HubbubError -> status; anything else -> INTERNAL, logged."""

    @functools.wraps(method)
    async def wrapper(self: S, request: Q, context: Context) -> R:
        try:
            return await method(self, request, context)
        except HubbubError as exc:
            await abort_with(context, exc)
        except (aio.AbortError, aio.UsageError):
            raise
        except Exception:  # the boundary: never leak a traceback
            log.exception("unexpected error in %s", method.__qualname__)
            await abort_with(context, Internal("internal error"))
        raise AssertionError("unreachable: abort raises")

    return wrapper


def error_from_metadata(trailing: Iterable[tuple[str, str | bytes]], details: str) -> HubbubError | None:
    """The typed error a servicer's abort carried (`abort_with`), or None when it carried no
    hubbub code. Shared by the stub side and the in-process calls (kernel/local_calls.py)."""
    metadata = {key: str(value) for key, value in trailing}
    if ERROR_CODE_KEY not in metadata:
        return None
    error = error_from_code(metadata[ERROR_CODE_KEY], details)
    if isinstance(error, RateLimited) and metadata.get(RETRY_AFTER_KEY, "").isdigit():
        error.retry_after_ms = int(metadata[RETRY_AFTER_KEY])
    return error


def error_from_rpc(exc: aio.AioRpcError) -> HubbubError:
    """Turn a failed call into the typed error the server meant (chain it with `from exc`)."""
    error = error_from_metadata(exc.trailing_metadata() or (), exc.details() or "")
    if error is not None:
        return error
    # No hubbub code: gRPC itself failed the call, and its details are internal (addresses,
    # "Sent message larger than max (...)"): they go to the log, never into the error that
    # may reach a client. CANCELLED reaches a caller when an overloaded server gave up on a
    # call past its deadline: like the others, try again later.
    if exc.code() in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
    ):
        log.debug("call failed: %s %s", exc.code().name, exc.details())
        return Unavailable("service unavailable, retry")
    log.warning("call failed: %s %s", exc.code().name, exc.details())
    return Internal("internal error")


async def call(awaitable: Awaitable[R]) -> R:
    """Await a stub call, mapping gRPC failures to HubbubError."""
    try:
        return await awaitable
    except aio.AioRpcError as exc:
        raise error_from_rpc(exc) from exc


def metadata_value(context: Context, key: str) -> str:
    """One invocation metadata value of a call ("" when absent)."""
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return ""
