"""Append as a partition-owning router runs it on a log it reaches itself (the Cassandra log):
in the router's process, on its own Cassandra session, with no messaging hop. The router
checked membership against its member view (router/owner_append.py); this validates, gives
ids and commits through the log (numbering, dedupe and fencing: messaging/store/cassandra/log.py).
What stays messaging's: the directory's ends, raised over RecordAppends (remote_directory.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kernel.clock import Clock
from kernel.errors import InvalidArgument, Unavailable
from kernel.ids import SnowflakeGenerator
from kernel.messaging_api import MessagingApi
from messaging import convert
from messaging.appends import Appender
from messaging.config import MessagingConfig
from messaging.erased_media import BlobRemover, ErasedMedia
from messaging.media_guard import MediaGuard
from messaging.remote_directory import RemoteDirectory
from messaging.store.interface import MessageLog
from protos import messaging_pb2

if TYPE_CHECKING:  # the Cassandra driver is imported only where the log is opened
    from messaging.store.cassandra.store import OpenedLog


class OwnerAppend:
    """Messaging's Append rpc in shape (kernel/local_calls.Unary), for items whose membership
    the caller checked."""

    def __init__(
        self, log: MessageLog, ids: SnowflakeGenerator, clock: Clock, blobs: BlobRemover | None = None
    ) -> None:
        media = MediaGuard(clock) if blobs is not None else None  # one for both: media_guard.py
        self._appender = Appender(log, ids, clock, media)
        self._erased_media = ErasedMedia(blobs, log, guard=media)
        self.calls = 0

    def __call__(
        self, request: messaging_pb2.AppendRequest, *, timeout: float | None = None
    ) -> Awaitable[messaging_pb2.AppendReply]:
        return self._append(request, timeout)

    async def _append(
        self, request: messaging_pb2.AppendRequest, limit_s: float | None
    ) -> messaging_pb2.AppendReply:
        self.calls += 1
        items = convert.send_items_from_pb(request.items)
        appending = self._appender.append(items, [None] * len(items))
        if limit_s is None:
            appended = await appending
        else:
            try:
                appended = await asyncio.wait_for(appending, limit_s)
            except TimeoutError:
                raise Unavailable("append timed out") from None
        # A deletion's erased attachment, removed once the deletion is stored (as messaging's
        # Append does); with no remover it stays until the media sweep takes it.
        await self._erased_media.remove_all(appended.erased)
        return convert.append_reply(appended.results)


@dataclass(frozen=True)
class OwnerWriter:
    """A router process's writer of the Cassandra log: `append` is what the router calls."""

    append: OwnerAppend
    directory: RemoteDirectory
    opened: OpenedLog

    async def close(self) -> None:
        await self.opened.close()


async def open_owner_writer(
    config: MessagingConfig, messaging: MessagingApi, clock: Clock, blobs: BlobRemover | None = None
) -> OwnerWriter:
    """Open the Cassandra log in this (a router's) process. `config.snowflake_worker` must be unique
    among the processes that give message ids (messaging's and every such router's). `blobs`:
    where deleted messages' objects are removed (None: left to the media sweep)."""
    if config.log_backend != "cassandra":
        raise InvalidArgument("a router writes the log itself only when log_backend is cassandra")
    from messaging.store.cassandra.store import open_log

    directory = RemoteDirectory(messaging)
    opened = await open_log(config.cassandra(), directory, config.partitions)
    ids = SnowflakeGenerator(config.snowflake_worker, clock)
    return OwnerWriter(OwnerAppend(opened.log, ids, clock, blobs), directory, opened)
