"""The single node: every hubbub service on one machine, each a gRPC server on loopback,
wired as a cluster is (one code path for both ways of running). Services run in this
process, or in child processes grouped by `NodeConfig.processes`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from deploy.child_process import CHILD_STOP_GRACE_S, config_to_json
from deploy.config import NodeConfig, with_secrets
from deploy.services import SERVICE_ORDER, Addresses, InProcess, Stop, start_service
from kernel.clock import Clock, SystemClock
from kernel.errors import InvalidArgument, Unavailable
from kernel.metrics import METRICS_KEY, METRICS_OFF, metrics_url, serve_metrics
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
# A child gets this long after SIGTERM before SIGKILL (it stops itself within its own grace).
CHILD_KILL_AFTER_S = CHILD_STOP_GRACE_S + 2.0
# An in-process service that takes longer than this to stop is left behind, so that the
# children after it in the stop order are still stopped.
SERVICE_STOP_TIMEOUT_S = 15.0
# Variables a child must not inherit: the secrets reach it over its stdin instead.
SECRET_ENV = ("HUBBUB_TOKEN_SECRET", "HUBBUB_INTERNAL_SECRET")


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
    ws_urls: list[str] = field(default_factory=list)
    """Every edge's WebSocket URL (`edges`), edge-1's first."""
    gateway_targets: list[str] = field(default_factory=list)
    """Every edge's gRPC Gateway host:port, edge-1's first."""
    discovery_http: str = ""
    """Base URL of discovery's HTTP endpoint (GET /v1/edge)."""
    child_pids: list[int] = field(default_factory=list)
    metrics: dict[str, str] = field(default_factory=dict)
    """Each process's Prometheus endpoint, by the services it runs ("edge", "presence+router")."""
    _stops: list[Stop] = field(default_factory=list, repr=False)
    _children: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    async def stop(self) -> None:
        """Stop front to back: edge first (clients leave), then router, presence, messaging.
        Every child is gone afterwards, whatever hung or failed on the way."""
        await _stop_all(self._stops, self._children)


async def _stop_all(stops: list[Stop], children: list[subprocess.Popen[bytes]]) -> None:
    try:
        while stops:
            stop = stops.pop()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(SERVICE_STOP_TIMEOUT_S):
                    await stop()
    finally:  # also when cancelled: no child outlives the node
        for proc in children:
            _kill_now(proc)


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


def process_name(processes: str) -> str:
    """The services this (the parent) process runs in a layout, as logs and metrics name it."""
    children = {service for group in process_groups(processes) for service in group}
    return "+".join(name for name in SERVICE_ORDER if name not in children) or "launcher"


def _spawn(command: list[str], spec: bytes) -> subprocess.Popen[bytes]:
    """subprocess.Popen, not the event loop's spawn: CPython execs through vfork, so no fork
    handler runs in this process while gRPC's threads are live (uvloop's fork crashed it).
    The spec (secrets included) goes down the child's stdin: argv and the environment are
    readable in /proc and by `ps`."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    try:
        proc.stdin.write(spec + b"\n")
        proc.stdin.flush()
    except OSError:  # the child died at once; its exit code says why below
        pass
    return proc


def _child_metrics_port(port: int, index: int) -> int:
    """The metrics port of the index-th child: the next after the parent's when fixed."""
    return port if port in (0, METRICS_OFF) else port + 1 + index


def _shut(endpoint: WSGIServer) -> None:
    endpoint.shutdown()
    endpoint.server_close()


async def start_child(
    services: tuple[str, ...], config: NodeConfig, secret: str, upstream: Addresses, metrics_port: int = -1
) -> tuple[subprocess.Popen[bytes], Addresses]:
    """Start a child running `services`; its stdin stays open (EOF tells it the parent left)."""
    spec = {
        "services": services,
        "config": config_to_json(config),
        "secret": secret,
        "upstream": upstream,
        "metrics_port": metrics_port,
    }
    command = [sys.executable, "-m", "deploy.child_process"]
    proc = await asyncio.to_thread(_spawn, command, json.dumps(spec).encode())
    log.info("child process %d starting %s", proc.pid, "+".join(services))
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(CHILD_READY_TIMEOUT_S):
            line = await asyncio.to_thread(proc.stdout.readline)
    except TimeoutError:
        proc.kill()
        line = b""
    except BaseException:  # cancelled (SIGTERM during start-up): the child goes too
        _kill_now(proc)
        raise
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


def _kill_now(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL (if still running) and reap; blocking, but a killed process is reaped at once."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
    _close_pipes(proc)


def _child_stopper(proc: subprocess.Popen[bytes]) -> Stop:
    """SIGTERM, then SIGKILL after a grace period: a wedged child is stopped all the same."""

    async def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, CHILD_KILL_AFTER_S)
        except subprocess.TimeoutExpired:
            log.warning("child %d ignored SIGTERM for %.0f s: killing it", proc.pid, CHILD_KILL_AFTER_S)
        finally:
            _kill_now(proc)

    return stop


async def start_single_node(
    config: NodeConfig, *, clock: Clock | None = None, push: PushNotifier | None = None
) -> SingleNode:
    """Start every service; `push` replaces the log push backend (in-process router only)."""
    groups = process_groups(config.processes)
    clock = clock or SystemClock()
    config = with_secrets(config)
    secret = config.token_secret
    config.data_dir.mkdir(parents=True, exist_ok=True)
    group_of = {service: group for group in groups for service in group}
    here = process_name(config.processes)
    service_name = "hubbub" if not groups else f"hubbub-{here.replace('+', '-')}"  # hubbub-edge, ...
    setup_tracing(service_name, config.trace_exporter, config.otlp_endpoint, config.trace_sample_ratio)
    addresses: Addresses = {}
    started: set[str] = set()
    stops: list[Stop] = []
    children: list[subprocess.Popen[bytes]] = []
    in_process = InProcess()
    try:
        if config.metrics_port != METRICS_OFF:
            endpoint = serve_metrics(config.internal_host, config.metrics_port)
            stops.append(lambda: asyncio.to_thread(_shut, endpoint))
            addresses[METRICS_KEY + here] = metrics_url(config.internal_host, endpoint)
        for name in SERVICE_ORDER:
            if name in started:
                continue
            group = group_of.get(name)
            if group is None:
                service = await start_service(name, config, secret, addresses, clock, push, in_process)
                stops.append(service.stop)
                addresses.update(service.addresses)
                push = service.push if service.push is not None else push
                continue
            missing = [n for member in group for n in NEEDS[member] if n not in addresses]
            provided = {f"{m}_target" for m in group}
            if any(n not in provided for n in missing):
                raise InvalidArgument(f"processes: {'+'.join(group)} starts before what it needs")
            child_metrics = _child_metrics_port(config.metrics_port, len(children))
            proc, child_addresses = await start_child(group, config, secret, addresses, child_metrics)
            stops.append(_child_stopper(proc))
            children.append(proc)
            addresses.update(child_addresses)
            started.update(group)
    except BaseException:
        await _stop_all(stops, children)
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
        ws_urls=addresses["ws_urls"].split(","),
        gateway_targets=addresses["gateway_targets"].split(","),
        discovery_http=addresses.get("discovery_http", ""),
        child_pids=[proc.pid for proc in children],
        metrics={k.removeprefix(METRICS_KEY): v for k, v in addresses.items() if k.startswith(METRICS_KEY)},
        _stops=stops,
        _children=children,
    )


async def serve_until_signalled(config: NodeConfig, on_ready: Callable[[SingleNode], None]) -> None:
    """Run a node until SIGINT or SIGTERM. The handlers are in place before start-up begins:
    a signal during start-up cancels it, and whatever had started (children too) is stopped."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    starting = asyncio.ensure_future(start_single_node(config))
    signalled = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not starting.done():
            starting.cancel()  # start_single_node stops what it started, then re-raises
            with contextlib.suppress(asyncio.CancelledError):
                await starting
    if starting.cancelled():
        signalled.cancel()
        return
    node = starting.result()  # a start-up error propagates from here
    try:
        on_ready(node)
        await signalled
    finally:
        signalled.cancel()
        await node.stop()
