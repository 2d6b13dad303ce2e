"""One local server process: started in its own session, waited for, stopped by PID.

Used by the fixtures of the tests that need real Redis, ZooKeeper or Cassandra, and by
`hubbub cluster up`. A server that does not come up raises `ServerStartError` with the tail of
its log, so a run fails with the server's own words rather than skipping."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

LOG_TAIL_BYTES = 4000
READY_POLL_S = 0.05


class ServerStartError(RuntimeError):
    """A server did not start (missing binary, crashed, or never answered)."""


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free TCP ports on `host` (all bound at once, then released)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def log_tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return "(no log)"
    return data[-limit:].decode(errors="replace")


@dataclass
class LocalServer:
    """A running server. `stop` ends it (TERM, then KILL); `kill`, `freeze` and `thaw` are for
    fault tests (SIGKILL, SIGSTOP, SIGCONT)."""

    name: str
    argv: tuple[str, ...]
    process: subprocess.Popen[bytes]
    log_path: Path
    info: dict[str, object] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.running():
            os.kill(self.process.pid, signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.process.wait()

    def freeze(self) -> None:
        self.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.signal(signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        """TERM, then KILL after `timeout` seconds (Java servers may ignore TERM a while)."""
        if not self.running():
            return
        self.signal(signal.SIGCONT)  # a frozen process cannot act on TERM
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def start_server(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    ready: Callable[[], bool],
    timeout: float = 30.0,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> LocalServer:
    """Start `argv` in its own session with output to `log_path`; return once `ready()` is
    true. Raises ServerStartError (with the log's tail) if it exits or times out first."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        try:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=None if env is None else {**os.environ, **env},
                start_new_session=True,
            )
        except OSError as error:
            raise ServerStartError(f"{name}: cannot run {argv[0]}: {error}") from error
    server = LocalServer(name, tuple(argv), process, log_path)
    deadline = time.monotonic() + timeout
    while not ready():
        if not server.running():
            raise ServerStartError(
                f"{name} exited with code {process.returncode} before it was ready; "
                f"its log ({log_path}):\n{log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            server.stop()
            raise ServerStartError(
                f"{name} was not ready within {timeout:.0f} s; its log ({log_path}):\n{log_tail(log_path)}"
            )
        time.sleep(READY_POLL_S)
    return server
