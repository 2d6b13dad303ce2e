"""`hubbub bench connections` (W3): N idle authenticated connections (token log-in, one user
per 100 connections, each its own device). Reports server RSS per connection and connects/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import math
import statistics
import sys
import time
from collections.abc import Callable
from multiprocessing.sharedctypes import SynchronizedArray
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tqdm import tqdm
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench import memory_where
from bench.loadgen import SETUP_TIMEOUT_S, RawUser, open_ws
from bench.node import NodeOptions, hubbub_node
from bench.open_files import SPARE, connections_allowed
from bench.pool import Command, Handler, Pool
from bench.sampler import ResourceSampler
from bench.stepped import emit, prefix
from bench.steps import kib_per_connection
from deploy.config import STORES
from protos import client_pb2 as pb

PASSWORD = "bench-password-1"
IDLE_HEARTBEAT_TIMEOUT_MS = 600_000  # idle connections must outlive the measurement
SETTLE_S = 2.0


SOURCES_PER_PROCESS = 8
"""Loopback source addresses each generator process spreads its connections over: each address
has about 28,000 ephemeral ports to one server port, and 100,000 connections need several."""


def source_address(url: str, index: int, connection: int = 0) -> tuple[str, int] | None:
    """The loopback source address of a generator process's `connection`-th connection (one of
    its own SOURCES_PER_PROCESS, in turn), so ephemeral ports never run short."""
    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost"):
        return None
    slot = index * SOURCES_PER_PROCESS + connection % SOURCES_PER_PROCESS
    return (f"127.0.0.{2 + slot % 250}", 0)


def split_devices(connections: int, per_user: int, names: list[str]) -> list[tuple[str, int]]:
    """(user, devices) for each user: `per_user` each, the last one the remainder."""
    out = []
    for k, name in enumerate(names):
        devices = min(per_user, connections - k * per_user)
        if devices > 0:
            out.append((name, devices))
    return out


PING = pb.ClientFrame(ping=pb.Ping()).SerializeToString()


async def open_idle(
    url: str, token: str, device_id: str, local_addr: tuple[str, int] | None
) -> tuple[ClientConnection, int]:
    """A token-authenticated connection, and the heartbeat interval (ms) its Welcome asked for."""
    ws = await open_ws(url, local_addr, device_id)
    await ws.send(pb.ClientFrame(ref=1, hello=pb.Hello(token=token, device_id=device_id)).SerializeToString())
    async with asyncio.timeout(SETUP_TIMEOUT_S):
        reply = pb.ServerFrame.FromString(await ws.recv(decode=False))
    if reply.WhichOneof("kind") != "welcome":
        await ws.close()
        raise RuntimeError(f"token log-in refused: {reply.error.code}")
    return ws, reply.welcome.heartbeat_interval_ms


async def ping_all(connections: list[ClientConnection], every_s: float) -> None:
    """Idle clients still ping (as the SDK does): one task for all of this process's connections."""
    while True:
        await asyncio.sleep(every_s)  # a heartbeat timer
        for ws in list(connections):
            with contextlib.suppress(ConnectionClosed):
                await ws.send(PING)


def handler(url: str, inflight: int, index: int, processes: int, counters: SynchronizedArray[int]) -> Handler:
    tokens: dict[str, str] = {}
    open_: list[ClientConnection] = []
    pinger: list[asyncio.Task[None]] = []

    async def sign_up(users: list[tuple[str, int]]) -> int:
        gate = asyncio.Semaphore(8)

        async def one(name: str) -> None:
            async with gate:
                user = await RawUser.sign_up(url, name, PASSWORD)
                tokens[name] = user.token
                await user.close()

        await asyncio.gather(*(one(name) for name, _ in users))
        return len(tokens)

    async def connect_all(users: list[tuple[str, int]]) -> dict[str, Any]:
        gate = asyncio.Semaphore(inflight)
        first_ns = time.time_ns()
        failures: list[str] = []

        async def one(name: str, device: int, k: int) -> None:
            async with gate:
                try:
                    local_addr = source_address(url, index, k)
                    ws, interval_ms = await open_idle(url, tokens[name], f"d{device}", local_addr)
                    open_.append(ws)
                    counters[2 * index] += 1
                    if not pinger:
                        pinger.append(
                            asyncio.create_task(ping_all(open_, 0.8 * (interval_ms or 15_000) / 1000))
                        )
                except (OSError, RuntimeError, TimeoutError, ConnectionClosed, InvalidHandshake) as exc:
                    # a refused or dropped handshake is one failed connection, not the end of the run
                    failures.append(f"{type(exc).__name__}: {exc}")
                    counters[2 * index + 1] += 1

        devices = [(name, d) for name, count in users for d in range(count)]
        await asyncio.gather(*(one(name, d, k) for k, (name, d) in enumerate(devices)))
        return {"connected": len(open_), "failed": len(failures), "first_ns": first_ns,
                "last_ns": time.time_ns(), "failures": failures[:5]}  # fmt: skip

    async def close_all() -> int:
        for task in pinger:
            task.cancel()
        pinger.clear()
        alive = sum(1 for ws in open_ if ws.state.name == "OPEN")
        await asyncio.gather(*(ws.close() for ws in open_), return_exceptions=True)
        open_.clear()
        return alive

    async def handle(command: Command) -> Any:
        if command[0] == "signup":
            return await sign_up(command[1][index])
        if command[0] == "connect":
            return await connect_all(command[1][index])
        if command[0] in ("close", "stop"):
            return await close_all()
        raise ValueError(f"unknown command {command[0]!r}")

    return handle


def connect_timeout_s(connections: int) -> float:
    """Ten minutes, and a second more per 50 connections (100,000 connect at a few hundred a
    second on a busy 2-core machine)."""
    return SETUP_TIMEOUT_S * 10 + connections / 50


def rss_now(sampler: ResourceSampler, readings: int = 4) -> int:
    """Median of a few readings a quarter second apart: RSS wobbles as the allocator works."""
    values = []
    for _ in range(readings):
        values.append(sampler.server_rss_bytes())
        time.sleep(0.25)  # spacing readings of another process's memory
    return int(statistics.median(values))


def run(
    connections: int,
    per_user: int,
    processes: int,
    inflight: int,
    sampler: ResourceSampler,
    url: str,
    settle_s: float = SETTLE_S,
    on_reading: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """`on_reading` is called right after the "before" and the "after" RSS readings."""
    asked = connections
    allowed = connections_allowed()
    if connections > allowed:
        print(
            f"w3: {connections:,} connections asked, but the open-file limit lets one process hold "
            f"{allowed:,}: measuring at {allowed:,} (raise the hard limit: `ulimit -Hn` with "
            "CAP_SYS_RESOURCE, or the container's nofile limit)",
            file=sys.stderr,
            flush=True,
        )
        connections = allowed
    processes = max(processes, math.ceil(connections / allowed))  # each generator under the limit too
    names = [f"{prefix()}-c{i}" for i in range(math.ceil(connections / per_user))]
    users = split_devices(connections, per_user, names)
    shares = [users[k::processes] for k in range(processes)]
    with Pool(functools.partial(handler, url, inflight), processes) as pool:
        sampler.label = "w3 sign-up"
        pool.ask(("signup", shares), SETUP_TIMEOUT_S * 5)
        sampler.label = "w3 idle before"
        time.sleep(settle_s)  # let the sign-up connections' memory settle before the reading
        rss_before = rss_now(sampler)
        if on_reading is not None:
            on_reading("before")
        sampler.label = "w3 connect"
        with tqdm(total=connections, unit="conn", desc="w3 connect", leave=False) as bar:

            def tick() -> None:
                bar.n, failed = pool.sums()
                bar.set_postfix(failed=failed, refresh=False)
                bar.refresh()

            answers = pool.ask(("connect", shares), connect_timeout_s(connections), tick)
        sampler.label = "w3 idle after"
        time.sleep(settle_s)
        rss_after = rss_now(sampler)
        if on_reading is not None:
            on_reading("after")
        alive = sum(pool.ask(("close",), SETUP_TIMEOUT_S))
        sampler.label = ""
    connected = sum(a["connected"] for a in answers)
    seconds = (max(a["last_ns"] for a in answers) - min(a["first_ns"] for a in answers)) / 1e9
    return {
        "workload": "connections",
        "connections": connections,
        "connections_asked": asked,
        "open_file_limit": allowed + SPARE,
        "users": len(users),
        "processes": processes,
        "connected": connected,
        "failed": sum(a["failed"] for a in answers),
        "failures": [f for a in answers for f in a["failures"]][:5],
        "still_open_at_end": alive,
        "connect_seconds": round(seconds, 3),
        "connects_per_s": round(connected / seconds, 1) if seconds > 0 else 0.0,
        "server_rss_before_mib": round(rss_before / 2**20, 2),
        "server_rss_after_mib": round(rss_after / 2**20, 2),
        "kib_per_conn": kib_per_connection(rss_before, rss_after, connected),
        **sampler.window("w3 connect"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubbub bench connections", description=__doc__)
    parser.add_argument("--connections", type=int, default=100_000, help="idle connections (default 100000)")
    parser.add_argument(
        "--per-user", type=int, default=100, help="connections (devices) per user (default 100)"
    )
    parser.add_argument("--processes", type=int, default=2, help="load generator processes (default 2)")
    parser.add_argument(
        "--inflight", type=int, default=100, help="handshakes in flight per process (default 100)"
    )
    parser.add_argument("--store", choices=STORES, default="sqlite", help="the node's store (default sqlite)")
    parser.add_argument(
        "--tracemalloc",
        type=Path,
        metavar="DIR",
        help="trace the node's allocations; write snapshots and where.md (per-connection sites) "
        "to DIR (tracing inflates the RSS figures: measure without it)",
    )
    parser.add_argument(
        "--frames", type=int, default=1, help="with --tracemalloc: frames kept per allocation (default 1)"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    extra_env: tuple[tuple[str, str], ...] = ()
    if args.tracemalloc is not None:
        args.tracemalloc.mkdir(parents=True, exist_ok=True)
        extra_env = memory_where.node_env(args.tracemalloc.resolve(), args.frames)
    options = NodeOptions(
        store=args.store, heartbeat_timeout_ms=IDLE_HEARTBEAT_TIMEOUT_MS, extra_env=extra_env
    )
    readings: dict[str, list[memory_where.Reading]] = {}
    with hubbub_node(options) as server, ResourceSampler(server.pid) as sampler:

        def snapshot(moment: str) -> None:
            readings[moment] = memory_where.take(server.pid, args.tracemalloc)

        on_reading = snapshot if args.tracemalloc is not None else None
        result = run(
            args.connections, args.per_user, args.processes, args.inflight, sampler, server.url,
            on_reading=on_reading,
        )  # fmt: skip
    if args.tracemalloc is not None:
        key = "lineno" if args.frames == 1 else "traceback"
        lines = memory_where.report(readings["before"], readings["after"], result["connected"], key)
        text = "\n".join(lines)
        (args.tracemalloc / "where.md").write_text(text + "\n")
        print(text, file=sys.stderr)
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
