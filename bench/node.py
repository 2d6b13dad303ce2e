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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.open_files import raise_open_files

# The bench measures chat, not argon2: cheap hashes so thousands of sign-ups are quick.
BENCH_ENV = {
    "HUBBUB_LOG_LEVEL": "WARNING",
    "HUBBUB_PUSH_LOG": "false",
    "HUBBUB_PASSWORD_HASH_TIME_COST": "1",
    "HUBBUB_PASSWORD_HASH_MEMORY_KIB": "8",
    "HUBBUB_PASSWORD_HASH_PARALLELISM": "1",
    # Set-up signs up thousands of users from a few addresses, many at once.
    "HUBBUB_SIGN_UPS_PER_ADDRESS": "1000000",
    "HUBBUB_AUTH_WAITING": "100000",
    "HUBBUB_PASSWORD_HASH_WAITING": "100000",
}
# The load benches (W1 up to 16,000 msgs/s over 200 users = 80/s each, W2 fan-out, W4's
# pipelined sends) measure throughput, not the inbound limits a human never meets: their node
# starts with the limits lifted, explicitly. `hubbub bench flood`
# keeps the defaults (NodeOptions.default_limits), since the limits are what it measures.
UNLIMITED = "1000000"
BENCH_LIMITS_ENV = {
    "HUBBUB_RATE_SEND_BURST": UNLIMITED,
    "HUBBUB_RATE_SEND_PER_SECOND": UNLIMITED,
    "HUBBUB_RATE_RECEIPT_BURST": UNLIMITED,
    "HUBBUB_RATE_RECEIPT_PER_SECOND": UNLIMITED,
    "HUBBUB_RATE_QUERY_BURST": UNLIMITED,
    "HUBBUB_RATE_QUERY_PER_SECOND": UNLIMITED,
    "HUBBUB_RATE_GROUP_BURST": UNLIMITED,
    "HUBBUB_RATE_GROUP_PER_SECOND": UNLIMITED,
}
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class NodeOptions:
    """How to start the node; recorded in results.json as hubbub's config."""

    store: str = "sqlite"
    heartbeat_timeout_ms: int | None = None
    extra_args: tuple[str, ...] = ()
    default_limits: bool = False
    """Keep the inbound and log-in limits at their defaults (else BENCH_LIMITS_ENV lifts them)."""
    extra_env: tuple[tuple[str, str], ...] = ()
    """More environment for the node (W3's --tracemalloc hook), as (name, value) pairs."""

    def env(self) -> dict[str, str]:
        limits = {} if self.default_limits else BENCH_LIMITS_ENV
        return {**BENCH_ENV, **limits, **dict(self.extra_env)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "heartbeat_timeout_ms": self.heartbeat_timeout_ms,
            "extra_args": list(self.extra_args),
            "env": {k: v for k, v in self.env().items() if k.startswith("HUBBUB_PASSWORD")},
            "limits": "default" if self.default_limits else "lifted",
        }


@dataclass
class Server:
    """A running server process: its WebSocket URL, pid and what it printed when ready."""

    url: str
    pid: int
    ready: dict[str, Any] = field(default_factory=dict)
    companions: dict[str, list[int]] = field(default_factory=dict)
    """Servers it runs on that are not its children (its Cassandra), by role, to sample too."""


def node_command(data_dir: Path, options: NodeOptions) -> list[str]:
    command = [sys.executable, "-m", "deploy.cli", "up", "--ready-json", "--data-dir", str(data_dir)]
    command += ["--ws-port", "0", "--gateway-port", "0", "--discovery-port", "0", "--store", options.store]
    if options.heartbeat_timeout_ms is not None:
        command += ["--heartbeat-timeout-ms", str(options.heartbeat_timeout_ms)]
    return command + list(options.extra_args)


@contextlib.contextmanager
def _process(
    command: list[str], url_key: str, workdir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    env = {**os.environ, **(BENCH_ENV if extra_env is None else extra_env)}
    raise_open_files()  # before the server starts: it inherits the limit, and so do later generators
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
            if process.stdout is not None:
                process.stdout.close()


@contextlib.contextmanager
def hubbub_node(options: NodeOptions = NodeOptions()) -> Iterator[Server]:
    """Start `hubbub up` on free ports with its data in a fresh temporary directory (store
    "cassandra": its log on a fresh local Cassandra, bench/node_cassandra.py)."""
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-") as tmp, contextlib.ExitStack() as stack:
        env, companions = options.env(), {}
        if options.store == "cassandra":
            from bench.node_cassandra import migrated_cassandra, node_flags

            cassandra, pid = stack.enter_context(migrated_cassandra(Path(tmp)))
            flags, more_env = node_flags(cassandra)
            options = replace(options, store="sqlite", extra_args=(*options.extra_args, *flags))
            env, companions = {**env, **more_env}, {"cassandra": [pid]}
        server = stack.enter_context(
            _process(node_command(Path(tmp) / "data", options), "ws_url", Path(tmp), env)
        )
        server.companions = companions
        yield server


ECHO_SERVERS = {"websockets": "bench.echo_server", "picows": "bench.echo_picows"}
"""The baseline's echo servers by WebSocket library: the edge's (websockets) and a candidate."""


@contextlib.contextmanager
def echo_server(library: str = "websockets") -> Iterator[Server]:
    """Start the baseline's bare echo server (on `library`'s WebSocket layer) on a free port."""
    with tempfile.TemporaryDirectory(prefix="hubbub-echo-") as tmp:
        command = [sys.executable, "-m", ECHO_SERVERS[library]]
        with _process(command, "ws_url", Path(tmp)) as server:
            yield server
