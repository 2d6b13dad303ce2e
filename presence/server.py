"""Runs the Presence service: the gRPC server, and the expiry task that sleeps
until the backend's next deadline (or until a report may have moved it earlier)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kernel.background import BackgroundTask
from kernel.clock import Clock, SystemClock
from kernel.grpc_server import GrpcService, start_grpc_server
from presence.config import PresenceConfig
from presence.interface import PresenceBackend
from presence.memory import MemoryPresence
from presence.servicer import PresenceServicer
from protos import presence_pb2_grpc

log = logging.getLogger(__name__)

RETRY_AFTER_ERROR_S = 1.0


class ExpiryTask:
    """Calls `backend.expire()` at each deadline it returns. A real timer, not a poll:
    it wakes exactly when something is due, or when `poke()` says a report arrived."""

    def __init__(self, backend: PresenceBackend, clock: Clock, max_wait_ms: int = 0) -> None:
        self._backend = backend
        self._clock = clock
        self._max_wait_s = max_wait_ms / 1000 if max_wait_ms else None
        self._wake = asyncio.Event()
        self._task = BackgroundTask("presence-expiry", self._run)

    def start(self) -> None:
        self._task.start()

    def poke(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before expire(): a poke during it is not lost
            try:
                deadline = await self._backend.expire()
            except Exception:  # a backend outage must not kill the task; retry later
                log.exception("presence expiry failed")
                deadline = self._clock.now_ms() + int(RETRY_AFTER_ERROR_S * 1000)
            delay = None if deadline is None else max(0, deadline - self._clock.now_ms() + 1) / 1000
            if self._max_wait_s is not None:
                delay = self._max_wait_s if delay is None else min(delay, self._max_wait_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()


async def start_presence(
    config: PresenceConfig, *, clock: Clock | None = None, backend: PresenceBackend | None = None
) -> GrpcService:
    """Start the service. Without `backend`, an in-memory one on `clock` is created (and
    closed on stop); a given backend stays the caller's to close."""
    clock = clock or SystemClock()
    owned = backend is None
    chosen: PresenceBackend = backend if backend is not None else MemoryPresence(clock, config.debounce_ms)
    expiry = ExpiryTask(chosen, clock, config.expiry_check_ms)
    servicer = PresenceServicer(chosen, max_watch_queue=config.max_watch_queue, on_report=expiry.poke)
    service = await start_grpc_server(
        "presence",
        lambda server: presence_pb2_grpc.add_PresenceServicer_to_server(servicer, server),
        config.host,
        config.port,
        internal_secret=config.internal_secret,
        internal_tls_dir=config.internal_tls_dir,
    )
    expiry.start()
    if owned:
        service.on_stop.append(chosen.close)
    service.on_stop.append(expiry.stop)  # hooks run in reverse: the task stops first
    return service
