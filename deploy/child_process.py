"""A child process of a multi-process single node: reads its spec (secrets included) as one
JSON line on stdin, starts some services, prints their addresses as one JSON line, and runs
until SIGTERM or until its parent goes away (stdin EOF)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from deploy.config import NodeConfig
from deploy.services import InProcess, start_service
from kernel.clock import SystemClock
from kernel.errors import HubbubError
from kernel.logs import configure_logging
from kernel.metrics import METRICS_KEY, METRICS_OFF, metrics_url, serve_metrics
from kernel.runtime import run_event_loop, settle_after_startup
from kernel.telemetry import setup_tracing

# After SIGTERM or the parent's exit, a graceful stop gets this long; then the process exits
# regardless (a wedged service must not keep it alive).
CHILD_STOP_GRACE_S = 5.0
MAX_SPEC_BYTES = 1 << 20


def startup_error(exc: BaseException) -> str:
    """What a person starting hubbub needs to read: the error's own words, no traceback."""
    if isinstance(exc, HubbubError):
        return exc.message
    return str(exc) or type(exc).__name__


def config_to_json(config: NodeConfig) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}


def config_from_json(values: dict[str, Any]) -> NodeConfig:
    known = {f.name for f in fields(NodeConfig)}
    kwargs = {k: v for k, v in values.items() if k in known}
    kwargs["data_dir"] = Path(kwargs["data_dir"])
    return NodeConfig(**kwargs)


def read_spec(fd: int = 0) -> dict[str, Any]:
    """The first line of stdin: the parent writes the spec there, not on the command line.
    Raw reads up to the newline only: what follows belongs to the parent watch."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk or len(data) >= MAX_SPEC_BYTES:
            raise SystemExit("deploy.child_process: no spec on stdin (it is started by `hubbub up`)")
        data += chunk
    spec: dict[str, Any] = json.loads(data)
    return spec


def _exit_after_grace() -> None:
    """Arm the hard deadline of a stop: a daemon timer that ends the process without cleanup."""
    timer = threading.Timer(CHILD_STOP_GRACE_S, os._exit, (1,))
    timer.daemon = True
    timer.start()


def _watch_parent(loop: asyncio.AbstractEventLoop, gone: asyncio.Event) -> None:
    """Set `gone` when stdin reaches EOF: the parent closed it or died. A daemon thread, so
    it never holds up this process's exit."""

    def read_until_eof() -> None:
        # Raw reads: a buffered reader's lock held by a daemon thread aborts interpreter exit.
        while os.read(0, 4096):
            pass
        _exit_after_grace()  # even if the loop is wedged, the orphan does not linger
        with contextlib.suppress(RuntimeError):  # the loop already closed: we are leaving anyway
            loop.call_soon_threadsafe(gone.set)

    threading.Thread(target=read_until_eof, name="parent-watch", daemon=True).start()


async def run(spec: dict[str, Any]) -> None:
    config = config_from_json(spec["config"])
    setup_tracing(
        f"hubbub-{'-'.join(spec['services'])}",
        config.trace_exporter,
        config.otlp_endpoint,
        config.trace_sample_ratio,
    )
    clock = SystemClock()
    upstream: dict[str, str] = dict(spec["upstream"])
    started = []
    here = InProcess()
    try:
        for name in spec["services"]:
            try:
                service = await start_service(name, config, spec["secret"], upstream, clock, None, here)
            except (HubbubError, OSError) as exc:
                # The parent reads this line instead of addresses and says what went wrong.
                print(json.dumps({"error": f"{name}: {startup_error(exc)}"}), flush=True)
                return
            started.append(service)
            upstream.update(service.addresses)
        if spec.get("metrics_port", METRICS_OFF) != METRICS_OFF:
            endpoint = serve_metrics(config.internal_host, spec["metrics_port"])
            upstream[METRICS_KEY + "+".join(spec["services"])] = metrics_url(config.internal_host, endpoint)
        settle_after_startup()
        print(json.dumps(upstream), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        _watch_parent(loop, stop)
        await stop.wait()
        _exit_after_grace()
    finally:
        for service in reversed(started):
            with contextlib.suppress(Exception):
                await service.stop()


def main() -> None:
    spec = read_spec()
    config = spec["config"]
    configure_logging(
        config.get("log_level", "INFO"), config.get("log_format", "text"), "+".join(spec["services"])
    )
    run_event_loop(run(spec))


if __name__ == "__main__":
    main()
