"""The end-to-end suite on a cluster (E2E_CLUSTER=1): 2 edges and 2 routers, each its own
process on the suite's ZooKeeper ensemble (a fresh root per test), started by
deploy/cluster/launcher.py as `hubbub cluster up` does. Each client the tests open goes to
the next edge, so the users of a test are spread over both."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from deploy.cluster.config import ClusterConfig
from deploy.cluster.launcher import RunningCluster
from deploy.config import NodeConfig

CLUSTER_ENV = "E2E_CLUSTER"
"""Set to 1 to run tests/e2e on a cluster (not HUBBUB_*: `hubbub up` refuses unknown ones)."""
EDGES = ROUTERS = 2
PARTITIONS = 16  # claims are cheap; every partition still moves between the two routers
START_TIMEOUT_S = 90.0
"""Below pytest's 120-s timeout: a start slowed past it fails with the step it was in (and the
launcher stops what it started) instead of being cut off by pytest mid-start."""

ROLE_ENV = {
    # As config_for_tests: quick heartbeats and leases, cheap password hashing.
    "edge": {
        "HUBBUB_HEARTBEAT_INTERVAL_MS": "1000",
        "HUBBUB_HEARTBEAT_TIMEOUT_MS": "3000",
        "HUBBUB_PRESENCE_LEASE_MS": "3000",
    },
    "presence": {"HUBBUB_DEBOUNCE_MS": "200"},
    "messaging": {
        "HUBBUB_PASSWORD_HASH_TIME_COST": "1",
        "HUBBUB_PASSWORD_HASH_MEMORY_COST": "8",
        "HUBBUB_PASSWORD_HASH_PARALLELISM": "1",
    },
}


def cluster_config(tmp_path: Path) -> ClusterConfig:
    return ClusterConfig(
        edges=EDGES,
        routers=ROUTERS,
        data_dir=tmp_path / "cluster",
        partitions=PARTITIONS,
        redis=True,  # presence, the connection registry and cluster events in Redis
        start_timeout_s=START_TIMEOUT_S,
    )


def fresh_root() -> str:
    return f"/e2e-{uuid.uuid4().hex[:12]}"


@dataclass
class ClusterNode:
    """What the tests read of a node, on a cluster: each `ws_url` (and `gateway_target`) read
    names the next edge."""

    cluster: RunningCluster
    _ws: itertools.cycle[str] = field(init=False)
    _gateways: itertools.cycle[str] = field(init=False)

    def __post_init__(self) -> None:
        edges = self.cluster.of_role("edge")
        self._ws = itertools.cycle([e.addresses["ws_url"] for e in edges])
        self._gateways = itertools.cycle([e.addresses["gateway_target"] for e in edges])

    @property
    def ws_url(self) -> str:
        return next(self._ws)

    @property
    def gateway_target(self) -> str:
        return next(self._gateways)

    @property
    def data_dir(self) -> Path:
        return self.cluster.config.data_dir

    @property
    def config(self) -> NodeConfig:
        """The secrets the tests read, where the launcher kept them."""
        return NodeConfig(
            data_dir=self.data_dir,
            token_secret=(self.data_dir / "token_secret").read_text().strip(),
            internal_secret=(self.data_dir / "internal_secret").read_text().strip(),
        )

    @property
    def messaging_target(self) -> str:
        return self.cluster.process("messaging").addresses["messaging_target"]

    @property
    def router_target(self) -> str:
        return self.cluster.of_role("router")[0].addresses["router_target"]

    @property
    def discovery_target(self) -> str:
        return self.cluster.discovery_target
