"""Redis on this machine: a standalone server or a 3-master Redis Cluster on free loopback ports,
with every file in one work directory. Shared by the test fixtures and `hubbub cluster up`.

No persistence (`--save ''`, `--appendonly no`): a restart comes back empty, which is the fault
the backends must survive (edges restate their sessions, presence is rebuilt)."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from deploy.local_servers.process import (
    LocalServer,
    ServerStartError,
    free_ports,
    log_tail,
    port_open,
    start_server,
)

HOST = "127.0.0.1"
REDIS_SERVER = "redis-server"
REDIS_CLI = "redis-cli"
CLUSTER_MASTERS = 3
CLUSTER_NODE_TIMEOUT_MS = 5000
CLUSTER_READY_TIMEOUT_S = 30.0
READY_LINE = "Ready to accept connections"


@dataclass
class RedisNode:
    """One redis-server process; `restart` brings it back on the same port (empty)."""

    port: int
    work_dir: Path
    server: LocalServer
    cluster_port: int | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def stop(self) -> None:
        self.server.stop()

    def restart(self) -> None:
        """Stop (TERM) and start again with the same arguments and port."""
        self.server.stop()
        self.server = _launch(self.port, self.work_dir, self.cluster_port)


@dataclass
class RedisClusterNodes:
    """A running cluster of masters; clients may start from any node's address."""

    nodes: list[RedisNode]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(HOST, node.port) for node in self.nodes]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def restart(self, port: int) -> None:
        """Restart the master on `port` (it comes back empty, with its slots) and wait until
        the cluster is whole again."""
        node = next(node for node in self.nodes if node.port == port)
        node.restart()
        _wait_cluster_ok(self.nodes)


def start_redis(work_dir: Path, port: int | None = None) -> RedisNode:
    """A standalone server on `port` (a free one by default)."""
    chosen = port if port is not None else free_ports(1)[0]
    return RedisNode(chosen, work_dir, _launch(chosen, work_dir, None))


def start_redis_cluster(work_dir: Path, masters: int = CLUSTER_MASTERS) -> RedisClusterNodes:
    """`masters` cluster-enabled servers joined by `redis-cli --cluster create`, no replicas;
    returns once every node reports `cluster_state:ok`."""
    ports = free_ports(2 * masters)
    nodes: list[RedisNode] = []
    try:
        for port, bus in zip(ports[:masters], ports[masters:], strict=True):
            nodes.append(RedisNode(port, work_dir, _launch(port, work_dir, bus), bus))
        addresses = [f"{HOST}:{node.port}" for node in nodes]
        _cli("--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes")
        _wait_cluster_ok(nodes)
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return RedisClusterNodes(nodes)


def _launch(port: int, work_dir: Path, cluster_port: int | None) -> LocalServer:
    node_dir = work_dir / f"redis-{port}"
    node_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        REDIS_SERVER,
        "--port", str(port),
        "--bind", HOST,
        "--dir", str(node_dir),
        "--save", "",
        "--appendonly", "no",
        "--protected-mode", "no",
        "--daemonize", "no",
    ]  # fmt: skip
    if cluster_port is not None:
        argv += [
            "--cluster-enabled", "yes",
            "--cluster-port", str(cluster_port),
            "--cluster-config-file", str(node_dir / "nodes.conf"),
            "--cluster-node-timeout", str(CLUSTER_NODE_TIMEOUT_MS),
        ]  # fmt: skip
    # A fresh log per launch: "ready" must be this process's own words, not the port answering
    # (another server may hold it, or the previous run's line may still be in an old log).
    log_path = node_dir / f"redis-{len(list(node_dir.glob('redis-*.log')))}.log"
    return start_server(
        f"redis-{port}",
        argv,
        log_path=log_path,
        ready=lambda: READY_LINE in log_tail(log_path) and port_open(HOST, port),
        cwd=node_dir,
    )


def _cli(*args: str, port: int | None = None) -> str:
    argv = [REDIS_CLI, *(["-h", HOST, "-p", str(port)] if port is not None else []), *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ServerStartError(f"{' '.join(argv)}: {error}") from error
    if done.returncode != 0:
        raise ServerStartError(f"{' '.join(argv)} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def _wait_cluster_ok(nodes: list[RedisNode]) -> None:
    """Every node must agree the cluster is up (slots assigned, gossip settled)."""
    deadline = time.monotonic() + CLUSTER_READY_TIMEOUT_S
    while True:
        states = [_cli("cluster", "info", port=node.port) for node in nodes]
        if all("cluster_state:ok" in state for state in states):
            return
        if time.monotonic() > deadline:
            raise ServerStartError(f"redis cluster not ok within {CLUSTER_READY_TIMEOUT_S:.0f} s: {states}")
        time.sleep(0.05)
