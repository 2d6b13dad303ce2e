"""The discovery service's configuration: one frozen value with documented defaults,
overridable by HUBBUB_* environment variables (kernel.config.from_env), checked at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from discovery.rules import DEFAULT_CAPACITY
from kernel.config import check
from kernel.ownership import check_partitions
from kernel.partitions import DEFAULT_PARTITIONS


@dataclass(frozen=True)
class DiscoveryConfig:
    host: str = "127.0.0.1"
    """Interface the gRPC server binds."""
    port: int = 0
    """gRPC port (the admin CLI's target); 0 picks a free one."""
    http_port: int = 0
    """Port of the HTTP endpoint for browsers (`GET /v1/edge`); 0 picks a free one, -1 = off."""
    http_max_connections: int = 1024
    """HTTP connections served at once (each is one request, at most 10 s); more are answered
    503 UNAVAILABLE at once."""
    default_edge_capacity: int = DEFAULT_CAPACITY
    """Connections an edge that registers no capacity is taken to be sized for (best-edge rule)."""
    partitions: int = DEFAULT_PARTITIONS
    """P (kernel/partitions.py), the same as every router's: on a cluster, `hubbub admin
    partitions` and `move` read and place the partitions 0..P-1 in ZooKeeper."""
    internal_secret: str = ""
    """Required of every call but AssignEdge, which clients make (listing the nodes and
    draining them are for the deployment and its admins); empty = open (tests)."""

    def __post_init__(self) -> None:
        check(0 <= self.port <= 65535, "port", "in 0..65535", self.port)
        check(-1 <= self.http_port <= 65535, "http_port", "in -1..65535", self.http_port)
        check(self.http_max_connections >= 1, "http_max_connections", "at least 1", self.http_max_connections)
        capacity = self.default_edge_capacity
        check(capacity >= 1, "default_edge_capacity", "at least 1", capacity)
        check_partitions(self.partitions)
