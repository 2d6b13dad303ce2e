"""The Presence gRPC service: a thin adapter from the contract to a PresenceBackend.
Errors cross as kernel error codes; a watcher that falls behind is cut off, not buffered."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from grpc import aio

from kernel.errors import HubbubError, Internal, InvalidArgument
from kernel.grpc_boundary import abort_with, servicer_errors
from kernel.limits import MAX_PRESENCE_QUERY_USERS
from presence.convert import report_from_proto, snapshot_to_proto
from presence.interface import PresenceBackend
from protos import presence_pb2, presence_pb2_grpc

log = logging.getLogger(__name__)

# Sent as initial metadata once a Watch is subscribed: a client that awaits
# `call.initial_metadata()` knows no later change can be missed, then Queries current state.
WATCH_READY_KEY = "hubbub-watch-ready"

Context = aio.ServicerContext[Any, Any]


class PresenceServicer(presence_pb2_grpc.PresenceServicer):
    def __init__(
        self, backend: PresenceBackend, *, max_watch_queue: int, on_report: Callable[[], None]
    ) -> None:
        self._backend = backend
        self._max_watch_queue = max_watch_queue
        self._on_report = on_report

    @servicer_errors
    async def Report(self, request: presence_pb2.EdgeReport, context: Context) -> presence_pb2.ReportReply:
        ack = await self._backend.report(report_from_proto(request))
        self._on_report()  # the report may have set an earlier deadline
        return presence_pb2.ReportReply(server_time_ms=ack.applied_at_ms, resync=ack.resync)

    @servicer_errors
    async def Query(
        self, request: presence_pb2.PresenceQuery, context: Context
    ) -> presence_pb2.PresenceSnapshot:
        if len(request.user_ids) > MAX_PRESENCE_QUERY_USERS:
            raise InvalidArgument(f"at most {MAX_PRESENCE_QUERY_USERS} users per query")
        return snapshot_to_proto(await self._backend.query(list(request.user_ids)))

    async def Watch(
        self, request: presence_pb2.WatchRequest, context: Context
    ) -> AsyncIterator[presence_pb2.PresenceSnapshot]:
        stream = await self._backend.subscribe(self._max_watch_queue)
        try:
            await context.send_initial_metadata(((WATCH_READY_KEY, "1"),))
            async for batch in stream:
                yield snapshot_to_proto(batch)
        except HubbubError as exc:
            await abort_with(context, exc)
        except (aio.AbortError, aio.UsageError):
            raise
        except Exception:  # the boundary: never leak a traceback
            log.exception("unexpected error in Presence.Watch")
            await abort_with(context, Internal("internal error"))
        finally:
            stream.close()
