"""The server under test, always in a process of its own: a hubbub single node (`hubbub up`)
or the bare `websockets` echo server of the baseline. Both announce themselves with one JSON line.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The bench measures chat, not argon2: cheap hashes so thousands of sign-ups are quick.
BENCH_ENV = {
    "HUBBUB_LOG_LEVEL": "WARNING",
    "HUBBUB_PUSH_LOG": "false",
    "HUBBUB_PASSWORD_HASH_TIME_COST": "1",
    "HUBBUB_PASSWORD_HASH_MEMORY_KIB": "8",
    "HUBBUB_PASSWORD_HASH_PARALLELISM": "1",
}
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class NodeOptions:
    """How to start the node; recorded in results.json as hubbub's config."""

    store: str = "sqlite"
    heartbeat_timeout_ms: int | None = None
    extra_args: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "heartbeat_timeout_ms": self.heartbeat_timeout_ms,
            "extra_args": list(self.extra_args),
            "env": {k: v for k, v in BENCH_ENV.items() if k.startswith("HUBBUB_PASSWORD")},
        }


@dataclass
class Server:
    """A running server process: its WebSocket URL, pid and what it printed when ready."""

    url: str
    pid: int
    ready: dict[str, Any] = field(default_factory=dict)


def node_command(data_dir: Path, options: NodeOptions) -> list[str]:
    command = [sys.executable, "-m", "deploy.cli", "up", "--ready-json", "--data-dir", str(data_dir)]
    command += ["--ws-port", "0", "--gateway-port", "0", "--discovery-port", "0", "--store", options.store]
    if options.heartbeat_timeout_ms is not None:
        command += ["--heartbeat-timeout-ms", str(options.heartbeat_timeout_ms)]
    return command + list(options.extra_args)


@contextlib.contextmanager
def _process(command: list[str], url_key: str, workdir: Path) -> Iterator[Server]:
    env = {**os.environ, **BENCH_ENV}
    with open(workdir / "server.log", "wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"the server did not start; see {workdir}/server.log")
            ready = json.loads(line)
            yield Server(url=str(ready[url_key]), pid=process.pid, ready=ready)
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def hubbub_node(options: NodeOptions = NodeOptions()) -> Iterator[Server]:
    """Start `hubbub up` on free ports with its data in a fresh temporary directory."""
    with (
        tempfile.TemporaryDirectory(prefix="hubbub-bench-") as tmp,
        _process(node_command(Path(tmp) / "data", options), "ws_url", Path(tmp)) as server,
    ):
        yield server


@contextlib.contextmanager
def echo_server() -> Iterator[Server]:
    """Start the baseline's bare `websockets` echo server on a free port."""
    with tempfile.TemporaryDirectory(prefix="hubbub-echo-") as tmp:
        command = [sys.executable, "-m", "bench.echo_server"]
        with _process(command, "ws_url", Path(tmp)) as server:
            yield server
