"""Calls between services placed in one process: a servicer's method called directly, with
the shape of a gRPC stub's method, so a caller cannot tell it from the gRPC client.

Why through the servicer and not the domain service beneath it: the servicer is the contract
(the same conversions, validation and error mapping as over gRPC, `servicer_errors`), so the
in-process path and the gRPC path cannot drift; the cost saved is gRPC's (serialisation, HTTP/2,
and the cross-thread wake-ups that make one operation cost 150-500 µs of CPU), not the servicer's.

Differences a caller may notice: none in results or errors (HubbubError with the same code, as
`grpc_boundary.call` raises for a stub); the request object is the caller's own (servicers only
read theirs); a `timeout` ends the call with the retryable UNAVAILABLE, as a gRPC deadline does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, NoReturn, Protocol, TypeVar, cast

import grpc

from kernel.errors import Internal, Unavailable
from kernel.grpc_boundary import Context, error_from_metadata

Q = TypeVar("Q")
R = TypeVar("R")
Q_contra = TypeVar("Q_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)

Metadata = Sequence[tuple[str, str]]


class Unary(Protocol[Q_contra, R_co]):
    """A unary method as a caller sees it: a grpc.aio stub's method, or a LocalUnary."""

    def __call__(self, request: Q_contra, *, timeout: float | None = None) -> Awaitable[R_co]: ...


class _LocalContext:
    """What a servicer method uses of its context, in-process: the invocation metadata, and
    `abort` (which `servicer_errors` calls with the error's code in trailing metadata)."""

    __slots__ = ("_metadata", "_trailing")

    def __init__(self, metadata: Metadata) -> None:
        self._metadata = metadata
        self._trailing: Metadata = ()

    def invocation_metadata(self) -> Metadata:
        return self._metadata

    def set_trailing_metadata(self, metadata: Metadata) -> None:
        self._trailing = metadata

    async def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        error = error_from_metadata(self._trailing, details)
        raise error if error is not None else Internal("internal error")


class LocalUnary(Generic[Q, R]):
    """A servicer's unary method, called in this process with a stub method's signature."""

    __slots__ = ("_method",)

    def __init__(self, method: Callable[[Q, Context], Awaitable[R]]) -> None:
        self._method = method

    def __call__(
        self, request: Q, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> Awaitable[R]:
        context = cast(Context, _LocalContext(metadata or ()))
        if timeout is None:
            return self._method(request, context)
        return _with_deadline(self._method(request, context), timeout)


async def _with_deadline(awaitable: Awaitable[R], seconds: float) -> R:
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError as exc:  # as a gRPC DEADLINE_EXCEEDED maps (kernel/grpc_boundary.py)
        raise Unavailable("service unavailable, retry") from exc
