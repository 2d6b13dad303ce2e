"""One router process of a cluster: its partitions leased through ZooKeeper and balanced with
the other routers' processes (router/cluster_balance.py). Configured from the environment:
the router's options as HUBBUB_<FIELD> (router/config.py), ZooKeeper's as
HUBBUB_ZOOKEEPER_<FIELD> (discovery/zk_paths.py). It registers itself in the ZooKeeper
registry and keeps its partitions and epoch there current. With the log in Cassandra
(HUBBUB_LOG_BACKEND=cassandra and the HUBBUB_CASSANDRA_* options, as messaging's) it appends
its partitions' messages there itself (deploy/router_log.py). Prints one JSON line with its id and Link
target once it serves, and runs until SIGTERM or SIGINT.

    HUBBUB_ZOOKEEPER_HOSTS=127.0.0.1:2181 HUBBUB_ROUTER_ID=router-2 \\
    HUBBUB_MESSAGING_TARGET=127.0.0.1:7000 python -m deploy.cluster_router
"""

from __future__ import annotations

import asyncio
import contextlib

from deploy.backends import session_directory_from_env
from deploy.cluster_process import announce, run_process, until_signalled
from deploy.router_log import open_router_log
from discovery.model import NodeInfo, NodeKind
from discovery.node_reports import report_partitions
from discovery.zk_ownership import ZkOwnership
from discovery.zk_paths import ENV_PREFIX, ZooKeeperSettings
from discovery.zk_registry import ZkRegistry
from kernel.clock import SystemClock
from kernel.config import from_env
from messaging.config import MessagingConfig
from router import start_router
from router.cluster_balance import ClusterBalancer
from router.config import RouterConfig


async def run() -> None:
    config = from_env(RouterConfig)
    settings = from_env(ZooKeeperSettings, prefix=ENV_PREFIX)
    ownership = await ZkOwnership.connect(settings, config.partitions)
    registry = await ZkRegistry.connect(settings)
    # With directory_backend=redis it reads the registry the edges write (never clears an edge).
    directory = session_directory_from_env(config.directory_backend, SystemClock())
    own_log = None
    try:
        # With HUBBUB_LOG_BACKEND=cassandra this router appends to Cassandra itself (its message
        # ids from HUBBUB_WORKER_ID: unique per process); else through messaging's Append.
        own_log = await open_router_log(
            from_env(MessagingConfig), config.messaging_target, SystemClock(),
            internal_secret=config.internal_secret, internal_tls_dir=config.internal_tls_dir,
        )  # fmt: skip
        service = await start_router(
            config, ownership=ownership, directory=directory,
            log_writer=own_log.writer if own_log is not None else None,
        )  # fmt: skip
        balancer = ClusterBalancer(
            ownership,
            ownership,
            config.router_id,
            service.target,
            service.core.ctx.ownership,
            placements=ownership,  # `hubbub admin move` places partitions through ZooKeeper
        )
        balancer.start()
        node = NodeInfo(
            config.router_id, NodeKind.ROUTER, service.target, registered_at_ms=SystemClock().now_ms()
        )
        await registry.register(node)
        reports = asyncio.create_task(report_partitions(registry, config.router_id, ownership))
        announce({"router_id": config.router_id, "router_target": service.target})
        await until_signalled()
        reports.cancel()
        await balancer.stop()
        with contextlib.suppress(Exception):
            await service.stop()
    finally:
        await registry.close()
        await ownership.close()
        if directory is not None:
            await directory.close()
        if own_log is not None:
            await own_log.close()


def main() -> None:
    run_process(run)


if __name__ == "__main__":
    main()
