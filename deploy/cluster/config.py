"""Options of `hubbub cluster up`: one frozen dataclass, every option with a documented
default, each overridable by HUBBUB_CLUSTER_<OPTION> and by the flag derived from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kernel.config import check, check_choice, default_data_dir
from kernel.partitions import MAX_PARTITIONS

ENV_PREFIX = "HUBBUB_CLUSTER_"
MAX_PROCESSES = 16  # per role: one machine's cores run them all
STORES = ("sqlite", "cassandra")


def default_cluster_dir() -> Path:
    return default_data_dir() / "cluster"


@dataclass(frozen=True)
class ClusterConfig:
    edges: int = 2
    """Edge processes (each registered in ZooKeeper, linked to every live router)."""
    routers: int = 2
    """Router processes (partitions leased through ZooKeeper and balanced between them)."""
    data_dir: Path = field(default_factory=default_cluster_dir)
    """Where the SQLite store, the servers' data, the secrets, each process's log and
    cluster.json (what `hubbub cluster status` reads) live (default <hubbub data dir>/cluster)."""
    host: str = "127.0.0.1"
    """Interface the client-facing listeners (edges' WebSocket and gRPC, discovery) bind."""
    ws_port: int = 0
    """First edge's WebSocket port, the next edges' on the ports after it (0 = free ports)."""
    discovery_port: int = 0
    """Discovery's gRPC port (0 = a free port)."""
    partitions: int = 64
    """P, the number of partitions (fixed for a deployment's data)."""
    zookeeper_nodes: int = 3
    """ZooKeeper servers started (3 = an ensemble that survives one node's death, 1 = standalone)."""
    session_timeout_s: float = 6.0
    """ZooKeeper session timeout of every process (a dead router's partitions move after it)."""
    redis: bool = True
    """Start a Redis server (the Redis backends use it once configured; docs/cluster.md)."""
    start_timeout_s: float = 300.0
    """The longest the whole start may take (every server's and process's readiness and the
    routers' split of the partitions): past it, the start stops what it started and fails
    with the step it was in and how long each step took (never a start that hangs)."""
    log_level: str = "INFO"
    """Least severity each process logs to its log file."""
    store: str = field(default="sqlite", metadata={"choices": STORES})
    """Where messages and cursors live: sqlite (messaging's file under data_dir) or cassandra:
    a local one-node Cassandra (deploy/local_servers/cassandra.py: a demo, Cassandra 1.2 on
    Java) is started and migrated, and messaging and every router are pointed at it; each
    router appends its partitions' messages there itself (docs/cassandra.md)."""

    def __post_init__(self) -> None:
        check(1 <= self.edges <= MAX_PROCESSES, "edges", f"in 1..{MAX_PROCESSES}", self.edges)
        check(1 <= self.routers <= MAX_PROCESSES, "routers", f"in 1..{MAX_PROCESSES}", self.routers)
        check(
            self.routers <= self.partitions <= MAX_PARTITIONS,
            "partitions",
            f"in routers..{MAX_PARTITIONS}",
            self.partitions,
        )
        check_choice("store", self.store, STORES)
        check(self.zookeeper_nodes in (1, 3, 5), "zookeeper_nodes", "1, 3 or 5", self.zookeeper_nodes)
        check(1.0 <= self.session_timeout_s <= 10.0, "session_timeout_s", "in 1..10", self.session_timeout_s)
        check(0 <= self.ws_port <= 65535 - self.edges, "ws_port", "a port", self.ws_port)
        check(0 <= self.discovery_port <= 65535, "discovery_port", "a port", self.discovery_port)
        check(10 <= self.start_timeout_s <= 3600, "start_timeout_s", "in 10..3600", self.start_timeout_s)
