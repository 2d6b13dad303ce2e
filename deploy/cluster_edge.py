"""One edge process of a cluster: it routes by the partition map in ZooKeeper, registers
itself in the ZooKeeper registry (address, zone, capacity, weight) and keeps its connection
count there current (written at most once per `load_update_interval_s`). Configured from
the environment: the edge's options as HUBBUB_<FIELD> (edge/config.py), ZooKeeper's as
HUBBUB_ZOOKEEPER_<FIELD> (discovery/zk_paths.py), its placement as HUBBUB_PLACEMENT_<FIELD>
(below). Prints one JSON line with its addresses once it serves; runs until SIGTERM/SIGINT.

    HUBBUB_ZOOKEEPER_HOSTS=127.0.0.1:2181 HUBBUB_EDGE_ID=edge-2 HUBBUB_PLACEMENT_ZONE=eu-1a \\
    HUBBUB_MESSAGING_TARGET=127.0.0.1:7000 python -m deploy.cluster_edge
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from deploy.backends import event_bus_from_env, session_directory_from_env
from deploy.cluster_process import announce, run_process, until_signalled
from deploy.edge_registry import RegistryDrainWatch
from deploy.media_store import edge_blob_store
from discovery.model import NodeInfo, NodeKind
from discovery.node_reports import report_connections
from discovery.zk_ownership import ZkOwnership
from discovery.zk_paths import ENV_PREFIX, ZooKeeperSettings
from discovery.zk_registry import ZkRegistry
from edge import start_edge
from edge.config import EdgeConfig
from kernel.clock import SystemClock
from kernel.config import check, from_env
from media.config import ENV_PREFIX as MEDIA_PREFIX
from media.config import MediaConfig

PLACEMENT_PREFIX = "HUBBUB_PLACEMENT_"


@dataclass(frozen=True)
class EdgePlacement:
    """What the best-edge rule compares unequal edges by (discovery/model.py, NodeInfo)."""

    zone: str = ""
    """The edge's zone (e.g. an availability zone); empty = none."""
    capacity: int = 0
    """Connections it is sized for; 0 = unknown."""
    weight: float = 1.0
    """An operator's share (1.0 = normal; 2.0 gets twice the clients for its capacity)."""

    def __post_init__(self) -> None:
        check(self.capacity >= 0, "placement capacity", ">= 0", self.capacity)
        check(self.weight > 0, "placement weight", "> 0", self.weight)


async def run() -> None:
    config = from_env(EdgeConfig)
    settings = from_env(ZooKeeperSettings, prefix=ENV_PREFIX)
    placement = from_env(EdgePlacement, prefix=PLACEMENT_PREFIX)
    ownership = await ZkOwnership.connect(settings, config.partitions)
    registry = await ZkRegistry.connect(settings)
    # With directory_backend=redis this edge writes its sessions to the shared registry.
    directory = session_directory_from_env(config.directory_backend, SystemClock())
    # HUBBUB_MEDIA_BACKEND=s3: attachments go to the bucket, not to the cluster's blob server.
    blob_store = edge_blob_store(from_env(MediaConfig, prefix=MEDIA_PREFIX), SystemClock())
    # With events_backend=redis a log-out-everywhere taken here closes the user's other edges' sessions.
    events = event_bus_from_env(config.events_backend)
    try:
        edge = await start_edge(
            config,
            map_watch=ownership,
            session_registry=directory,
            events=events,
            drain_watch=RegistryDrainWatch(registry, config.edge_id),  # `hubbub admin drain` moves clients
            blob_store=blob_store,
        )
        node = NodeInfo(
            config.edge_id,
            NodeKind.EDGE,
            edge.grpc_target,
            edge.ws_url,
            registered_at_ms=SystemClock().now_ms(),
            zone=placement.zone,
            capacity=placement.capacity,
            weight=placement.weight,
        )
        await registry.register(node)
        every_s = max(settings.load_update_interval_s, 0.1)
        reports = asyncio.create_task(
            report_connections(registry, config.edge_id, lambda: edge.connections, every_s)
        )
        announce({"edge_id": config.edge_id, "ws_url": edge.ws_url, "gateway_target": edge.grpc_target})
        await until_signalled()
        reports.cancel()
        await registry.deregister(config.edge_id)
        with contextlib.suppress(Exception):
            await edge.stop()
    finally:
        await registry.close()
        await ownership.close()
        await events.close()
        if directory is not None:
            await directory.close()


def main() -> None:
    run_process(run)


if __name__ == "__main__":
    main()
