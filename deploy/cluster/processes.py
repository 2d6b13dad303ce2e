"""Starting hubbub's own cluster processes (deploy/cluster_*.py) as local servers: each in its
own session with its output in a log file, ready once it has printed its addresses (one JSON
line, deploy/cluster_process.announce), stopped by PID (TERM, then KILL)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from deploy.local_servers.process import LocalServer, start_server

READY_TIMEOUT_S = 90.0
"""A Python process imports grpc and more before it serves: slow on a loaded 2-core machine."""

MODULES = {
    "messaging": "deploy.cluster_messaging",
    "presence": "deploy.cluster_presence",
    "router": "deploy.cluster_router",
    "edge": "deploy.cluster_edge",
    "discovery": "deploy.cluster_discovery",
    "media": "deploy.cluster_media",
}
"""Each role's entry point: `python -m <module>` (the compose and Kubernetes files run the same)."""


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    role: str
    env: Mapping[str, str]
    prefix: tuple[str, ...] = ()
    """A command the process runs under (e.g. `ip netns exec NS` in a fault test); () = none."""


@dataclass
class ClusterProcess:
    """A running process and what it announced (its addresses)."""

    spec: ProcessSpec
    server: LocalServer
    addresses: dict[str, str]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int:
        return self.server.pid


def announced(log_path: Path) -> dict[str, str] | None:
    """The JSON line a process prints once it serves (log lines never start with '{')."""
    if not log_path.exists():
        return None
    for line in log_path.read_bytes().splitlines():
        if line.startswith(b"{"):
            try:
                return {str(k): str(v) for k, v in json.loads(line).items()}
            except ValueError:
                continue
    return None


def start_process(spec: ProcessSpec, log_dir: Path, timeout_s: float = READY_TIMEOUT_S) -> ClusterProcess:
    """Start one process and wait (at most `timeout_s`) for its announcement; ServerStartError
    (with the log's tail) if it exits or stays silent first."""
    log_path = log_dir / f"{spec.name}.log"
    log_path.unlink(missing_ok=True)  # an earlier run's announcement must not count
    server = start_server(
        spec.name,
        [*spec.prefix, sys.executable, "-m", MODULES[spec.role]],
        log_path=log_path,
        ready=lambda: announced(log_path) is not None,
        timeout=timeout_s,
        env=spec.env,
    )
    addresses = announced(log_path)
    assert addresses is not None
    return ClusterProcess(spec, server, addresses)


def start_wave(
    specs: list[ProcessSpec], log_dir: Path, started: list[ClusterProcess], timeout_s: float = READY_TIMEOUT_S
) -> None:
    """Start processes that do not depend on each other side by side, each given `timeout_s`
    to be ready; each one that starts is appended to `started` (so the caller stops it even
    when another fails)."""

    def one(spec: ProcessSpec) -> None:
        started.append(start_process(spec, log_dir, timeout_s))

    with ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
        futures = [pool.submit(one, spec) for spec in specs]
    for future in futures:
        future.result()  # the first failure, once every start has ended
