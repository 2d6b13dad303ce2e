"""Callers of internal services prove they belong to the deployment: every internal gRPC call
carries the deployment's internal secret as metadata, checked in constant time by the server.

Distinct from the token-signing secret: a client's token never opens an internal service, and
the discovery listing (which names internal addresses) hands out neither secret.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from grpc import aio

from kernel.errors import ErrorCode
from kernel.grpc_boundary import ERROR_CODE_KEY

METADATA_KEY = "x-hubbub-internal"
REFUSED = "internal service: the caller did not present this deployment's internal secret"


def internal_metadata(secret: str) -> tuple[tuple[str, str], ...]:
    """Metadata for a call made without an intercepted channel (a hot stream, see router_link)."""
    return ((METADATA_KEY, secret),) if secret else ()


def presented_secret(metadata: Any) -> bytes:
    """The internal secret a call carries (b"" when none)."""
    for key, value in metadata or ():
        if key == METADATA_KEY:
            return value.encode() if isinstance(value, str) else bytes(value)
    return b""


def _with_secret(details: aio.ClientCallDetails, secret: str) -> aio.ClientCallDetails:
    metadata = aio.Metadata(*(details.metadata or ()))
    metadata[METADATA_KEY] = secret
    return aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class _UnaryUnary(aio.UnaryUnaryClientInterceptor):
    def __init__(self, secret: str) -> None:
        self._secret = secret

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_secret(details, self._secret), request)


class _UnaryStream(aio.UnaryStreamClientInterceptor):
    def __init__(self, secret: str) -> None:
        self._secret = secret

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_secret(details, self._secret), request)


class _StreamUnary(aio.StreamUnaryClientInterceptor):
    def __init__(self, secret: str) -> None:
        self._secret = secret

    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(_with_secret(details, self._secret), requests)


class _StreamStream(aio.StreamStreamClientInterceptor):
    def __init__(self, secret: str) -> None:
        self._secret = secret

    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(_with_secret(details, self._secret), requests)


def client_interceptors(secret: str) -> list[aio.ClientInterceptor]:
    """Interceptors that add the internal secret to every call of a channel, whatever its kind
    (one object per kind: a channel files each interceptor under the first kind it matches)."""
    return [_UnaryUnary(secret), _UnaryStream(secret), _StreamUnary(secret), _StreamStream(secret)]


# The stable code rides along as on every hubbub refusal, so a caller sees UNAUTHENTICATED.
_REFUSED_TRAILER = ((ERROR_CODE_KEY, ErrorCode.UNAUTHENTICATED.value),)


async def _refuse(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, REFUSED, trailing_metadata=_REFUSED_TRAILER)


async def _refuse_stream(request: Any, context: aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, REFUSED, trailing_metadata=_REFUSED_TRAILER)
    yield None  # pragma: no cover - abort raises


if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]


def _refusing(handler: Handler) -> Handler:
    """A handler of the same shape that answers UNAUTHENTICATED without decoding the request."""
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(_refuse_stream)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(_refuse)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(_refuse_stream)
    return grpc.unary_unary_rpc_method_handler(_refuse)


class ServerAuthInterceptor(aio.ServerInterceptor):
    """Refuses, with UNAUTHENTICATED and nothing else, every call without the internal secret.
    Runs once per call (once per stream), before the request is decoded."""

    def __init__(self, secret: str, open_methods: frozenset[str] = frozenset()) -> None:
        self._secret = secret.encode()
        self._open = open_methods  # full method names clients may call without it

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method in self._open:
            return handler
        presented = presented_secret(handler_call_details.invocation_metadata)
        if hmac.compare_digest(presented, self._secret):
            return handler
        return _refusing(handler)
