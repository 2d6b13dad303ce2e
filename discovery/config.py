"""The discovery service's configuration: one frozen value with documented defaults,
overridable by HUBBUB_* environment variables (kernel.config.from_env), checked at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.config import check


@dataclass(frozen=True)
class DiscoveryConfig:
    host: str = "127.0.0.1"
    """Interface the gRPC server binds."""
    port: int = 0
    """gRPC port (the admin CLI's target); 0 picks a free one."""
    internal_secret: str = ""
    """Required of every call but AssignEdge, which clients make (listing the nodes and
    draining them are for the deployment and its admins); empty = open (tests)."""

    def __post_init__(self) -> None:
        check(0 <= self.port <= 65535, "port", "in 0..65535", self.port)
