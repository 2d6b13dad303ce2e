"""A router process's own writer of the Cassandra log (composition: messaging's writer code,
messaging/owner_append.py, placed in the router's process), so the partition owner appends
without a messaging hop. Only where it helps: the log is Cassandra and messaging runs in
another process (in messaging's own process the router calls it in-process already)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from deploy.media_remover import blob_remover_from_env
from kernel.clock import Clock
from kernel.grpc_server import internal_channel
from messaging.config import MessagingConfig
from protos import messaging_pb2_grpc
from router.owner_append import LogWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RouterLog:
    writer: LogWriter
    close: Callable[[], Awaitable[None]]


async def open_router_log(
    messaging: MessagingConfig, messaging_target: str, clock: Clock, *, internal_secret: str = "",
    internal_tls_dir: str = "",
) -> RouterLog | None:  # fmt: skip
    """None when the log is not Cassandra (the router appends through messaging then).
    `messaging.snowflake_worker` gives this process's message ids: unique per process. A deleted
    message's object is removed where the HUBBUB_MEDIA_* options say (deploy/media_remover.py)."""
    if messaging.log_backend != "cassandra":
        return None
    from messaging.owner_append import open_owner_writer

    channel = internal_channel(messaging_target, internal_secret, internal_tls_dir)
    try:
        blobs = blob_remover_from_env(internal_secret, clock)
        stub = messaging_pb2_grpc.MessagingStub(channel)
        owner = await open_owner_writer(messaging, stub, clock, blobs)
    except BaseException:
        await channel.close()
        raise

    log.info("router: appending to the Cassandra log itself (%s)", messaging.cassandra_hosts)

    async def close() -> None:
        try:
            await owner.close()
        finally:
            await channel.close()

    return RouterLog(owner.append, close)
