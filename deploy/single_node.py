"""The single node: every hubbub service on one machine, each a gRPC server on loopback,
wired as a cluster is (one code path for both ways of running). Services run in this
process, or in child processes grouped by `NodeConfig.processes`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from deploy.child_process import config_to_json
from deploy.config import NodeConfig, token_secret_for
from deploy.services import SERVICE_ORDER, Addresses, Stop, start_service
from kernel.clock import Clock, SystemClock
from kernel.errors import InvalidArgument, Unavailable
from kernel.telemetry import setup_tracing
from router import PushNotifier

log = logging.getLogger(__name__)

NEEDS: dict[str, tuple[str, ...]] = {
    "messaging": (),
    "presence": (),
    "router": ("messaging_target", "presence_target"),
    "edge": ("messaging_target", "presence_target", "router_target"),
}
CHILD_READY_TIMEOUT_S = 60.0


@dataclass
class SingleNode:
    """A running node: where clients connect, and how to stop it."""

    config: NodeConfig
    ws_url: str
    gateway_target: str
    discovery_target: str
    messaging_target: str
    router_target: str
    presence_target: str
    push: PushNotifier | None
    child_pids: list[int] = field(default_factory=list)
    _stops: list[Stop] = field(default_factory=list, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    async def stop(self) -> None:
        """Stop front to back: edge first (clients leave), then router, presence, messaging."""
        while self._stops:
            stop = self._stops.pop()
            with contextlib.suppress(Exception):
                await stop()


def _order(service: str) -> int:
    return SERVICE_ORDER.index(service) if service in SERVICE_ORDER else len(SERVICE_ORDER)


def process_groups(spec: str) -> list[tuple[str, ...]]:
    """Parse `processes`: "one" (everything here) or child groups like "edge/messaging+presence".
    Services named in no group run in this process."""
    if spec in ("", "one"):
        return []
    groups = [tuple(sorted(part.split("+"), key=_order)) for part in spec.split("/") if part]
    named = [s for g in groups for s in g]
    unknown = sorted(set(named) - set(SERVICE_ORDER))
    if unknown or len(named) != len(set(named)):
        raise InvalidArgument(
            f"processes: groups of {', '.join(SERVICE_ORDER)} joined by '+', separated by '/' "
            f"(each service at most once), not {spec!r}"
        )
    return groups


def _spawn(command: list[str]) -> subprocess.Popen[bytes]:
    """subprocess.Popen, not the event loop's spawn: CPython execs through vfork, so no fork
    handler runs in this process while gRPC's threads are live (uvloop's fork crashed it)."""
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)


async def start_child(
    services: tuple[str, ...], config: NodeConfig, secret: str, upstream: Addresses
) -> tuple[subprocess.Popen[bytes], Addresses]:
    """Start a child running `services`; its stdin stays open (EOF tells it the parent left)."""
    spec = {"services": services, "config": config_to_json(config), "secret": secret, "upstream": upstream}
    proc = await asyncio.to_thread(_spawn, [sys.executable, "-m", "deploy.child_process", json.dumps(spec)])
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(CHILD_READY_TIMEOUT_S):
            line = await asyncio.to_thread(proc.stdout.readline)
    except TimeoutError:
        proc.kill()
        line = b""
    answer = json.loads(line) if line else {}
    if not line or "error" in answer:
        await asyncio.to_thread(proc.wait)
        _close_pipes(proc)
        default = f"child process for {'+'.join(services)} exited with {proc.returncode} before it was ready"
        raise Unavailable(answer.get("error", default))
    addresses: Addresses = answer
    return proc, addresses


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


def _child_stopper(proc: subprocess.Popen[bytes]) -> Stop:
    async def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)
        finally:
            _close_pipes(proc)

    return stop


async def start_single_node(
    config: NodeConfig, *, clock: Clock | None = None, push: PushNotifier | None = None
) -> SingleNode:
    """Start every service; `push` replaces the log push backend (in-process router only)."""
    config.validate()
    groups = process_groups(config.processes)
    clock = clock or SystemClock()
    setup_tracing("hubbub", config.trace_exporter, config.otlp_endpoint)
    secret = token_secret_for(config)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    group_of = {service: group for group in groups for service in group}
    addresses: Addresses = {}
    started: set[str] = set()
    stops: list[Stop] = []
    pids: list[int] = []
    try:
        for name in SERVICE_ORDER:
            if name in started:
                continue
            group = group_of.get(name)
            if group is None:
                service = await start_service(name, config, secret, addresses, clock, push)
                stops.append(service.stop)
                addresses.update(service.addresses)
                push = service.push if service.push is not None else push
                continue
            missing = [n for member in group for n in NEEDS[member] if n not in addresses]
            provided = {f"{m}_target" for m in group}
            if any(n not in provided for n in missing):
                raise InvalidArgument(f"processes: {'+'.join(group)} starts before what it needs")
            proc, child_addresses = await start_child(group, config, secret, addresses)
            stops.append(_child_stopper(proc))
            pids.append(proc.pid)
            addresses.update(child_addresses)
            started.update(group)
    except BaseException:
        for stop in reversed(stops):
            with contextlib.suppress(Exception):
                await stop()
        raise
    return SingleNode(
        config=config,
        ws_url=addresses["ws_url"],
        gateway_target=addresses["gateway_target"],
        discovery_target=addresses["discovery_target"],
        messaging_target=addresses["messaging_target"],
        router_target=addresses["router_target"],
        presence_target=addresses["presence_target"],
        push=push,
        child_pids=pids,
        _stops=stops,
    )
