"""A local ZooKeeper: one standalone server or a 3-node ensemble on free loopback ports.

Debian's ZooKeeper 3.8 (`/usr/share/java/zookeeper.jar`) on Java 17, one process per node,
each with its own zoo.cfg and data dir under `base_dir`. Ready means serving: every node
answers the `srvr` four-letter word with a mode (leader, follower or standalone); `leader()`
names the leader for fault tests. Used by the test fixtures and `hubbub cluster up`.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from deploy.local_servers.process import (
    LocalServer,
    ServerStartError,
    free_ports,
    log_tail,
    port_open,
    start_server,
)

ZOOKEEPER_CLASSPATH = ("/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-simple.jar")
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
TICK_MS = 500
"""ZooKeeper's tick: sessions may last 2..20 ticks (1..10 s), short enough for fault tests."""
START_TIMEOUT_S = 60.0
"""How long a node (and then the whole ensemble) may take to serve; JVMs start slowly on a
loaded 2-core machine."""
JVM_FLAGS = ("-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
"""Small heap, one GC thread, the quick JIT: start fast and leave the cores to the tests."""
HOST = "127.0.0.1"


def four_letter_word(port: int, word: str, host: str = HOST, timeout: float = 1.0) -> str:
    """The answer to a four-letter word ('' if the node does not answer)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(word.encode())
            chunks = []
            while chunk := sock.recv(4096):
                chunks.append(chunk)
    except OSError:
        return ""
    return b"".join(chunks).decode(errors="replace")


def mode_of(port: int, host: str = HOST) -> str:
    """'leader', 'follower' or 'standalone' for a node that serves, '' otherwise."""
    for line in four_letter_word(port, "srvr", host).splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return ""


@dataclass(frozen=True)
class NodeSpec:
    """One node's place: its id (myid), client port and the two quorum ports."""

    myid: int
    client_port: int
    peer_port: int
    election_port: int


def zoo_cfg(node: NodeSpec, data_dir: Path, ensemble: Sequence[NodeSpec]) -> str:
    """zoo.cfg for one node; an ensemble of one is a standalone server (no server.N lines)."""
    lines = [
        f"tickTime={TICK_MS}",
        "initLimit=20",
        "syncLimit=4",
        f"dataDir={data_dir}",
        f"clientPort={node.client_port}",
        f"clientPortAddress={HOST}",
        "admin.enableServer=false",
        "4lw.commands.whitelist=srvr,ruok",
        "maxClientCnxns=0",
        "preAllocSize=4096",  # KB: 4 MB transaction log files, not 64 MB per node
        "forceSync=no",  # test data: no fsync per write
    ]
    if len(ensemble) > 1:
        lines += [f"server.{n.myid}={HOST}:{n.peer_port}:{n.election_port}" for n in ensemble]
    return "\n".join(lines) + "\n"


@dataclass
class ZooKeeperEnsemble:
    """Running ZooKeeper nodes. `hosts` is the connect string clients use; `kill`, `freeze`,
    `thaw` and `restart` take a node index (0-based) for fault tests."""

    base_dir: Path
    nodes: list[NodeSpec]
    servers: list[LocalServer] = field(default_factory=list)
    ended: set[int] = field(default_factory=set)
    """Nodes the caller killed or stopped (their exit is not a failure)."""

    @property
    def hosts(self) -> str:
        return ",".join(f"{HOST}:{n.client_port}" for n in self.nodes)

    def host_of(self, index: int) -> str:
        return f"{HOST}:{self.nodes[index].client_port}"

    def modes(self) -> list[str]:
        return [
            mode_of(n.client_port) if s.running() else ""
            for n, s in zip(self.nodes, self.servers, strict=True)
        ]

    def leader(self) -> int:
        """Index of the leader (of the standalone server); ServerStartError if none serves."""
        for index, mode in enumerate(self.modes()):
            if mode in ("leader", "standalone"):
                return index
        raise ServerStartError(f"no ZooKeeper node leads now (modes {self.modes()})")

    def followers(self) -> list[int]:
        return [i for i, mode in enumerate(self.modes()) if mode == "follower"]

    def kill(self, index: int) -> None:
        self.ended.add(index)
        self.servers[index].kill()

    def freeze(self, index: int | None = None) -> None:
        """SIGSTOP one node, or every node (None)."""
        for server in self._chosen(index):
            server.freeze()

    def thaw(self, index: int | None = None) -> None:
        for server in self._chosen(index):
            server.thaw()

    def restart(self, index: int, timeout: float = START_TIMEOUT_S) -> None:
        """Start a killed (or stopped) node again on its ports and data; returns once the
        ensemble serves with it."""
        self.servers[index].stop()
        self.servers[index] = self._start_node(index, timeout)
        self.ended.discard(index)
        self.wait_serving(timeout)

    def wait_serving(self, timeout: float = START_TIMEOUT_S) -> None:
        """Until every running node serves (quorum formed); ServerStartError with the logs'
        tails otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            running = [i for i, s in enumerate(self.servers) if s.running()]
            modes = self.modes()
            if running and all(modes[i] for i in running):
                return
            dead = [s for i, s in enumerate(self.servers) if not s.running() and i not in self.ended]
            if dead or time.monotonic() > deadline:
                tails = "\n".join(
                    f"--- {s.name} ({s.log_path}):\n{log_tail(s.log_path, 1500)}" for s in self.servers
                )
                raise ServerStartError(
                    f"ZooKeeper did not serve within {timeout:.0f} s (modes {modes}):\n{tails}"
                )
            time.sleep(0.05)

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start every node; return once all serve. ServerStartError (and every node
        stopped) otherwise."""
        try:
            for index in range(len(self.nodes)):
                self.servers.append(self._start_node(index, timeout))
            self.wait_serving(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.ended.update(range(len(self.servers)))
        for server in self.servers:
            server.stop()

    def _chosen(self, index: int | None) -> list[LocalServer]:
        return list(self.servers) if index is None else [self.servers[index]]

    def _start_node(self, index: int, timeout: float) -> LocalServer:
        node = self.nodes[index]
        node_dir = self.base_dir / f"zk{node.myid}"
        data_dir = node_dir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "myid").write_text(f"{node.myid}\n")
        cfg = node_dir / "zoo.cfg"
        cfg.write_text(zoo_cfg(node, data_dir, self.nodes))
        argv = [
            "java",
            *JVM_FLAGS,
            "-Dzookeeper.jmx.log4j.disable=true",
            "-cp",
            ":".join(ZOOKEEPER_CLASSPATH),
            MAIN_CLASS,
            str(cfg),
        ]
        return start_server(
            f"zookeeper-{node.myid}",
            argv,
            log_path=node_dir / "zookeeper.log",
            ready=lambda: port_open(HOST, node.client_port),
            timeout=timeout,
        )


def start_zookeeper(base_dir: Path, nodes: int = 3, timeout: float = START_TIMEOUT_S) -> ZooKeeperEnsemble:
    """Start `nodes` ZooKeeper servers (1 = standalone, 3 = an ensemble) on free loopback
    ports; returns once every one serves. ServerStartError (with the logs) otherwise."""
    for jar in ZOOKEEPER_CLASSPATH:
        if not Path(jar).exists():
            raise ServerStartError(f"{jar} is missing: apt-get install zookeeper (./dev test does)")
    ports = free_ports(3 * nodes, HOST)
    specs = [NodeSpec(i + 1, *ports[3 * i : 3 * i + 3]) for i in range(nodes)]
    ensemble = ZooKeeperEnsemble(base_dir, specs)
    ensemble.start(timeout)
    return ensemble
