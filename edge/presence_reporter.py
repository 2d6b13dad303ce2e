"""Tells presence which sessions this edge holds: batched changes as they happen, an empty
report every lease/3 to renew the edge's lease, a full snapshot after every (re)connect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

import grpc

from kernel.background import BackgroundTask
from kernel.backoff import backoff_delay
from kernel.budget import split_by_bytes
from kernel.grpc_boundary import call
from kernel.grpc_server import MAX_BATCH_BYTES, internal_channel
from protos.presence_pb2 import EdgeReport, SessionChange
from protos.presence_pb2_grpc import PresenceStub
from protos.router_pb2 import SessionRef

log = logging.getLogger(__name__)
REPORT_TIMEOUT_S = 5.0
CHANGE_OVERHEAD = 8  # a repeated field's tag and length, rounded up


def _change(ref: SessionRef, online: bool) -> SessionChange:
    return SessionChange(
        user_id=ref.user_id, device_id=ref.device_id, session_id=ref.session_id, online=online
    )


class PresenceReporter:
    """Implements connection.PresenceSink; one Report call in flight at a time."""

    def __init__(
        self,
        target: str,
        edge_id: str,
        lease_ms: int,
        live_refs: Callable[[], list[SessionRef]],
        internal_secret: str = "",
        internal_tls_dir: str = "",
    ) -> None:
        self._target = target
        self._internal_secret = internal_secret
        self._internal_tls_dir = internal_tls_dir
        self._edge_id = edge_id
        self._lease_ms = lease_ms
        self._live_refs = live_refs
        self._pending: list[SessionChange] = []
        self._wake = asyncio.Event()
        self._need_snapshot = True
        self._task = BackgroundTask("presence-reporter", self._run)
        self._rng = random.Random()
        self.reports = 0  # successful reports (observability)

    def start(self) -> None:
        self._wake.set()  # the first report (a snapshot) goes out at once
        self._task.start()

    def opened(self, ref: SessionRef) -> None:
        self._pending.append(_change(ref, True))
        self._wake.set()

    def closed(self, ref: SessionRef) -> None:
        self._pending.append(_change(ref, False))
        self._wake.set()

    async def stop(self) -> None:
        """Stop reporting and tell presence this edge holds nothing any more (best effort)."""
        if not self._task.running:
            return
        await self._task.stop()
        channel = internal_channel(self._target, self._internal_secret, self._internal_tls_dir)
        try:
            farewell = EdgeReport(edge_id=self._edge_id, lease_ms=self._lease_ms, full_snapshot=True)
            with contextlib.suppress(Exception):
                await call(PresenceStub(channel).Report(farewell, timeout=1.0))
        finally:
            await channel.close()

    async def _run(self) -> None:
        renew_s = self._lease_ms / 3000.0
        attempt = 0
        channel = internal_channel(self._target, self._internal_secret, self._internal_tls_dir)
        stub = PresenceStub(channel)
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(renew_s):
                        await self._wake.wait()
                self._wake.clear()
                if channel.get_state() is not grpc.ChannelConnectivity.READY:
                    # The connection dropped since the last report: presence may have
                    # restarted and forgotten us, so restate everything.
                    self._need_snapshot = True
                resync = False
                try:
                    for report in self._next_reports():
                        reply = await call(stub.Report(report, timeout=REPORT_TIMEOUT_S))
                        resync = resync or reply.resync
                except Exception as exc:  # noqa: BLE001 - presence down: retry with a snapshot
                    log.info("presence report failed: %r", exc)
                    self._need_snapshot = True
                    attempt += 1
                    await asyncio.sleep(backoff_delay(attempt, self._rng))
                    self._wake.set()
                    continue
                attempt = 0
                self.reports += 1
                if resync:  # presence lost track of us (lease lapsed): restate all
                    self._need_snapshot = True
                    self._wake.set()
        finally:
            await channel.close()

    def _next_reports(self) -> list[EdgeReport]:
        """Coalesce what changed since the last report; a snapshot after any failure. Cut by
        bytes below the gRPC limit (an edge may hold hundreds of thousands of sessions): the
        first part of a snapshot replaces what presence knew, the others add to it."""
        self._pending, changes = [], self._pending
        snapshot, self._need_snapshot = self._need_snapshot, False
        if snapshot:
            changes = [_change(ref, True) for ref in self._live_refs()]
        sizes = [change.ByteSize() + CHANGE_OVERHEAD for change in changes]
        parts = split_by_bytes(changes, sizes, MAX_BATCH_BYTES) or [[]]
        return [
            EdgeReport(
                edge_id=self._edge_id,
                lease_ms=self._lease_ms,
                changes=part,
                full_snapshot=snapshot and i == 0,
            )
            for i, part in enumerate(parts)
        ]
