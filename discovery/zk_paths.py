"""Where hubbub keeps its state in ZooKeeper, and the timings of its sessions: one home for
both (the ownership and registry backends, the fixtures and the docs read them here).

Layout under `root` (default /hubbub):

    ownership/epochs/<p>     persistent: partition p's epoch counter (decimal), only grows
    ownership/owners/<p>     ephemeral: p's owner {"router_id", "target", "epoch"} (JSON)
    ownership/sessions/<id>  ephemeral: router <id> has a live session (one at a time)
    ownership/placements/<p> persistent: the router an operator placed p on (`hubbub admin move`)
    nodes/<id>               ephemeral: a registered node's NodeInfo (JSON, every field)
    draining/<id>            persistent: an operator's drain mark (outlives re-registration)
    weights/<id>             persistent: an operator's weight for the node (decimal; wins over
                             the weight it registers with, and outlives re-registration)
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.config import check

ENV_PREFIX = "HUBBUB_ZOOKEEPER_"
"""Environment variables of these settings: HUBBUB_ZOOKEEPER_HOSTS, HUBBUB_ZOOKEEPER_ROOT, ..."""


@dataclass(frozen=True)
class ZooKeeperSettings:
    hosts: str = "127.0.0.1:2181"
    """The ensemble's connect string (host:port,host:port,...)."""
    root: str = "/hubbub"
    """The znode every path below lives under (one deployment per root)."""
    session_timeout_s: float = 6.0
    """ZooKeeper session timeout asked for. A router cut off from ZooKeeper reports
    SUSPENDED within 2/3 of it and LOST after it; its partitions move after it (the router
    failover goal is 2x this). The server bounds it to 2..20 ticks."""
    connect_timeout_s: float = 15.0
    """How long opening a session may take before Unavailable."""
    reconnect_max_delay_s: float = 1.0
    """The longest pause between reconnection attempts of a suspended session (it must try
    often enough to come back well within the session timeout)."""
    load_update_interval_s: float = 1.0
    """The shortest interval between two writes of one node's load (connections, msgs/s) to
    ZooKeeper; a change within it is written when the interval ends, so the latest value
    always lands."""

    def __post_init__(self) -> None:
        check(bool(self.hosts.strip()), "zookeeper hosts", "a host:port list", self.hosts)
        check(
            self.root.startswith("/") and not self.root.endswith("/"), "zookeeper root", "/a/path", self.root
        )
        check(
            0.5 <= self.session_timeout_s <= 120, "session_timeout_s", "in 0.5..120", self.session_timeout_s
        )
        check(self.connect_timeout_s > 0, "connect_timeout_s", "> 0", self.connect_timeout_s)
        check(self.reconnect_max_delay_s > 0, "reconnect_max_delay_s", "> 0", self.reconnect_max_delay_s)
        check(self.load_update_interval_s >= 0, "load_update_interval_s", ">= 0", self.load_update_interval_s)

    # ------------------------------------------------------------------ ownership
    @property
    def epochs(self) -> str:
        return f"{self.root}/ownership/epochs"

    @property
    def owners(self) -> str:
        return f"{self.root}/ownership/owners"

    @property
    def sessions(self) -> str:
        return f"{self.root}/ownership/sessions"

    @property
    def placements(self) -> str:
        return f"{self.root}/ownership/placements"

    def placement_of(self, partition: int) -> str:
        return f"{self.placements}/{partition}"

    def epoch_of(self, partition: int) -> str:
        return f"{self.epochs}/{partition}"

    def owner_of(self, partition: int) -> str:
        return f"{self.owners}/{partition}"

    def session_of(self, router_id: str) -> str:
        return f"{self.sessions}/{router_id}"

    # ------------------------------------------------------------------ registry
    @property
    def nodes(self) -> str:
        return f"{self.root}/nodes"

    @property
    def draining(self) -> str:
        return f"{self.root}/draining"

    @property
    def weights(self) -> str:
        return f"{self.root}/weights"

    def weight_of(self, node_id: str) -> str:
        return f"{self.weights}/{node_id}"

    def node_of(self, node_id: str) -> str:
        return f"{self.nodes}/{node_id}"

    def draining_of(self, node_id: str) -> str:
        return f"{self.draining}/{node_id}"
