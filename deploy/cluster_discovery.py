"""The discovery process of a cluster: the Discovery gRPC service over the ZooKeeper node
registry (clients ask it for an edge; admins list, weigh and drain nodes) and partition
ownership (admins list the partitions and move one: discovery/zk_partition_admin.py). Configured from the
environment: its options as HUBBUB_<FIELD> (discovery/config.py), ZooKeeper's as
HUBBUB_ZOOKEEPER_<FIELD> (discovery/zk_paths.py). Prints one JSON line with its target once
it serves; runs until SIGTERM/SIGINT.

    HUBBUB_ZOOKEEPER_HOSTS=127.0.0.1:2181 HUBBUB_PORT=8767 python -m deploy.cluster_discovery
"""

from __future__ import annotations

from deploy.cluster_process import run_process, serve_until_signalled
from discovery import DiscoveryConfig, start_discovery
from discovery.zk_ownership import ZkOwnership
from discovery.zk_partition_admin import ZkPartitionAdmin
from discovery.zk_paths import ENV_PREFIX, ZooKeeperSettings
from discovery.zk_registry import ZkRegistry
from kernel.config import from_env


async def run() -> None:
    config = from_env(DiscoveryConfig)
    settings = from_env(ZooKeeperSettings, prefix=ENV_PREFIX)
    registry = await ZkRegistry.connect(settings)
    try:
        ownership = await ZkOwnership.connect(settings, config.partitions)
        try:
            admin = ZkPartitionAdmin(ownership)
            service = start_discovery(
                config, registry=registry, move_partition=admin.move_partition, list_partitions=admin.listing
            )
            await serve_until_signalled("discovery", service)
        finally:
            await ownership.close()
    finally:
        await registry.close()


def main() -> None:
    run_process(run)


if __name__ == "__main__":
    main()
