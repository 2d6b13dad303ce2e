"""Start and stop a grpc.aio server on a loopback port (0 = any free port), the way every
hubbub service does: register servicers, bind, start; stop gracefully. Internal servers and
channels carry the deployment's internal secret (see `kernel.internal_auth`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from grpc import aio

from kernel.internal_auth import ServerAuthInterceptor, client_interceptors
from kernel.internal_tls import channel_credentials, load_tls, server_credentials

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""The largest gRPC message between hubbub services, either way (every channel and server).
Batches are cut below it (MAX_BATCH_BYTES), so no batch can fail for its size."""
BATCH_ENVELOPE_BYTES = 64 * 1024
"""Room kept in each batch message for its own fields (edge id, tags, lengths, session lists)."""
MAX_BATCH_BYTES = MAX_MESSAGE_BYTES - BATCH_ENVELOPE_BYTES
"""Items per EdgeBatch/RouterBatch stop before this many bytes; one item larger can never be
carried and is refused (TOO_LARGE) instead of being queued."""
CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
SERVER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.so_reuseport", 0),
]


@dataclass
class GrpcService:
    """A running gRPC server. `on_stop` hooks run after the server stopped accepting calls."""

    name: str
    server: aio.Server
    host: str
    port: int
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    async def stop(self, grace: float = 1.0) -> None:
        await self.server.stop(grace)
        for hook in reversed(self.on_stop):
            await hook()


async def start_grpc_server(
    name: str,
    register: Callable[[aio.Server], None],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    internal_secret: str = "",
    open_methods: frozenset[str] = frozenset(),
    internal_tls_dir: str = "",
    max_receive_bytes: int = MAX_MESSAGE_BYTES,
) -> GrpcService:
    """`internal_secret`: every call must carry it (UNAUTHENTICATED otherwise) but those to
    `open_methods` (full names, for clients); empty = open, for client-facing servers (the
    edge's Gateway) and rooms tested alone. `internal_tls_dir`: mutual TLS (kernel.internal_tls).
    `max_receive_bytes` lowers the receive limit for a client-facing server (the Gateway)."""
    interceptors = [ServerAuthInterceptor(internal_secret, open_methods)] if internal_secret else None
    tls = load_tls(internal_tls_dir)
    options = [o for o in SERVER_OPTIONS if o[0] != "grpc.max_receive_message_length"]
    options.append(("grpc.max_receive_message_length", min(max_receive_bytes, MAX_MESSAGE_BYTES)))
    server = aio.server(options=options, interceptors=interceptors)
    register(server)
    address = f"{host}:{port}"
    if tls is None:
        bound = server.add_insecure_port(address)
    else:
        bound = server.add_secure_port(address, server_credentials(tls))
    if bound == 0:
        raise OSError(f"{name}: cannot bind {host}:{port}")
    await server.start()
    return GrpcService(name=name, server=server, host=host, port=bound)


def insecure_channel(target: str, internal_secret: str = "") -> aio.Channel:
    """A channel to another hubbub service with the shared limits and keepalives; every call
    on it carries `internal_secret` (when given) as metadata."""
    return internal_channel(target, internal_secret)


def internal_channel(target: str, internal_secret: str = "", internal_tls_dir: str = "") -> aio.Channel:
    """As `insecure_channel`, over mutual TLS when `internal_tls_dir` is given."""
    interceptors = client_interceptors(internal_secret) if internal_secret else None
    tls = load_tls(internal_tls_dir)
    if tls is None:
        return aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=interceptors)
    return aio.secure_channel(
        target, channel_credentials(tls), options=CHANNEL_OPTIONS, interceptors=interceptors
    )
