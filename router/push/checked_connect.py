"""The Web Push sender's connections: the endpoint's host is resolved here, every address it
resolves to is checked (kernel/webpush_hosts.py), and the socket goes to a checked address, so
a name that resolves inside the network (DNS rebinding) is refused at the moment of connecting
rather than at a look-up the connection would repeat. TLS still verifies the name."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence

import httpcore
import httpx

from kernel.webpush_hosts import resolved_refusal

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class RefusedAddress(httpcore.ConnectError):
    """The endpoint's host resolved to an internal address: not connected, and never will be."""


Resolve = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) -> the addresses it names; raises OSError when it names none."""


async def system_resolve(host: str, port: int) -> list[str]:
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in found]


class CheckedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, allowed_hosts: Sequence[str], resolve: Resolve = system_resolve) -> None:
        self._allowed = tuple(allowed_hosts)
        self._resolve = resolve
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._resolve(host, port)
        except OSError as exc:  # TimeoutError included
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        refusal = resolved_refusal(host, addresses, self._allowed)
        if refusal is not None:
            raise RefusedAddress(refusal)
        return await self._inner.connect_tcp(addresses[0], port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedAddress("Web Push endpoints are reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's HTTP/2 transport, its connection pool built on CheckedBackend (httpx has no
    parameter for the pool's network backend, so the pool it built is replaced)."""

    def __init__(
        self, verify: ssl.SSLContext | bool, allowed_hosts: Sequence[str], resolve: Resolve = system_resolve
    ) -> None:
        super().__init__(verify=verify, http2=True)
        limits = httpx.Limits()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http2=True,
            network_backend=CheckedBackend(allowed_hosts, resolve),
        )


def refused(exc: httpx.HTTPError) -> str | None:
    """The refusal behind a failed request, None when it failed for another reason."""
    cause = exc.__cause__
    return str(cause) if isinstance(cause, RefusedAddress) else None
