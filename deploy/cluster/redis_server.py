"""A standalone local redis-server for `hubbub cluster up`, through deploy/local_servers/
process.py. A stand-in with the same face (`start_redis(work_dir, port)` -> `.url`, `.stop()`)
as deploy/local_servers/redis.py, which replaces it once that is on main."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from deploy.local_servers.process import LocalServer, ServerStartError, free_port, port_open, start_server

HOST = "127.0.0.1"


@dataclass
class RedisNode:
    port: int
    work_dir: Path
    server: LocalServer

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def stop(self) -> None:
        self.server.stop()


def start_redis(work_dir: Path, port: int | None = None) -> RedisNode:
    """A standalone server on `port` (a free one by default), its data in `work_dir`."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerStartError("redis-server is missing: apt-get install redis-server (./dev test does)")
    chosen = port if port is not None else free_port(HOST)
    work_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        "--port",
        str(chosen),
        "--bind",
        HOST,
        "--dir",
        str(work_dir),
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    server = start_server(
        f"redis-{chosen}",
        argv,
        log_path=work_dir / f"redis-{chosen}.log",
        ready=lambda: port_open(HOST, chosen),
    )
    return RedisNode(chosen, work_dir, server)
