"""Start a whole cluster on this machine, in dependency order, each service its own process:
ZooKeeper (and Redis), then messaging and presence, then the routers (until they have split
the partitions), then the edges and discovery. Stopped back to front by PID; whatever
started is stopped when a later step fails."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deploy.cluster.config import ClusterConfig
from deploy.cluster.processes import ClusterProcess, ProcessSpec, start_wave
from deploy.config import INTERNAL_SECRET_FILE, write_private
from deploy.local_servers.process import ServerStartError
from deploy.local_servers.redis import RedisNode, start_redis
from deploy.local_servers.zookeeper import ZooKeeperEnsemble, start_zookeeper
from discovery.zk_ownership import ZkOwnership
from discovery.zk_paths import ZooKeeperSettings
from kernel.ownership import PartitionMap

STATE_FILE = "cluster.json"
BALANCE_TIMEOUT_S = 120.0
TOKEN_SECRET_FILE = "token_secret"

RoleEnv = Mapping[str, Mapping[str, str]]
"""Extra environment per role ("edge", "router", ...; "*" for every process)."""
Placement = Callable[[ProcessSpec], ProcessSpec]
"""Where a process runs: a test may return its spec changed (a command to run it under, its
addresses rewritten), e.g. to start one router in a network namespace."""


def in_place(spec: ProcessSpec) -> ProcessSpec:
    """The default placement: on this host, as specified."""
    return spec


@dataclass
class RunningCluster:
    config: ClusterConfig
    zookeeper_hosts: str
    zookeeper_root: str
    processes: list[ClusterProcess] = field(default_factory=list)
    zookeeper: ZooKeeperEnsemble | None = None
    """The ensemble this cluster started (None: it runs on one it was given)."""
    redis: RedisNode | None = None

    def of_role(self, role: str) -> list[ClusterProcess]:
        return sorted((p for p in self.processes if p.spec.role == role), key=lambda p: p.name)

    def process(self, name: str) -> ClusterProcess:
        return next(p for p in self.processes if p.name == name)

    @property
    def discovery_target(self) -> str:
        return self.of_role("discovery")[0].addresses["discovery_target"]

    @property
    def ws_urls(self) -> list[str]:
        return [p.addresses["ws_url"] for p in self.of_role("edge")]

    def state(self) -> dict[str, object]:
        """What `hubbub cluster status` reads back (data_dir/cluster.json)."""
        return {
            "zookeeper_hosts": self.zookeeper_hosts,
            "zookeeper_root": self.zookeeper_root,
            "partitions": self.config.partitions,
            "redis_url": self.redis.url if self.redis is not None else "",
            "processes": [
                {"name": p.name, "role": p.spec.role, "pid": p.pid, **p.addresses} for p in self.processes
            ],
        }

    def stop(self) -> None:
        """Front to back: discovery and edges (clients leave), routers, presence, messaging,
        then Redis and ZooKeeper. Each TERM, then KILL after its grace."""
        order = ("discovery", "edge", "router", "presence", "messaging")
        for role in order:
            for process in self.of_role(role):
                process.server.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.zookeeper is not None:
            self.zookeeper.stop()
        (self.config.data_dir / STATE_FILE).unlink(missing_ok=True)


def kept_secret(path: Path) -> str:
    """A secret generated on the first start and kept (tokens outlive a restart)."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    write_private(path, value)
    return value


def _specs(
    config: ClusterConfig,
    role: str,
    names: list[str],
    common: dict[str, str],
    extra: RoleEnv,
    place: Placement = in_place,
) -> list[ProcessSpec]:
    return [
        place(ProcessSpec(name, role, {**common, **extra.get("*", {}), **per, **extra.get(role, {})}))
        for name, per in ((n, _own_env(config, role, n, i)) for i, n in enumerate(names))
    ]


def _own_env(config: ClusterConfig, role: str, name: str, index: int) -> dict[str, str]:
    if role == "router":
        return {"HUBBUB_ROUTER_ID": name}
    if role == "edge":
        ws_port = config.ws_port + index if config.ws_port else 0
        return {"HUBBUB_EDGE_ID": name, "HUBBUB_HOST": config.host, "HUBBUB_WS_PORT": str(ws_port)}
    if role == "discovery":
        return {"HUBBUB_HOST": config.host, "HUBBUB_PORT": str(config.discovery_port)}
    if role == "messaging":
        return {"HUBBUB_DATA_DIR": str(config.data_dir / "messaging"), "HUBBUB_STORE": "sqlite"}
    return {}


async def wait_balanced(settings: ZooKeeperSettings, partitions: int, routers: list[str]) -> PartitionMap:
    """Until every partition is owned and the routers' shares differ by at most one."""
    observer = await ZkOwnership.connect(settings, partitions)
    try:
        async with asyncio.timeout(BALANCE_TIMEOUT_S):
            async for current in observer.watch():
                counts = [len(current.held_by(r)) for r in routers]
                if all(o is not None for o in current.owners) and max(counts) - min(counts) <= 1:
                    return current
    except TimeoutError:
        raise ServerStartError(
            f"the routers did not split the partitions within {BALANCE_TIMEOUT_S:.0f} s"
        ) from None
    finally:
        await observer.close()
    raise ServerStartError("the partition map watch ended")


def start_cluster(
    config: ClusterConfig,
    *,
    zookeeper_hosts: str | None = None,
    zookeeper_root: str = "/hubbub",
    role_env: RoleEnv | None = None,
    place: Placement = in_place,
) -> RunningCluster:
    """Start every process (blocking: call it from a thread in async code). With
    `zookeeper_hosts`, run on that ensemble (under `zookeeper_root`) instead of starting one;
    `place` may change where each process runs (a fault test's hook)."""
    data_dir = config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    extra = role_env or {}
    cluster = RunningCluster(config, zookeeper_hosts or "", zookeeper_root)
    try:
        if zookeeper_hosts is None:
            cluster.zookeeper = start_zookeeper(data_dir / "zookeeper", nodes=config.zookeeper_nodes)
            cluster.zookeeper_hosts = cluster.zookeeper.hosts
        if config.redis:
            cluster.redis = start_redis(data_dir / "redis")
        settings = ZooKeeperSettings(
            hosts=cluster.zookeeper_hosts, root=zookeeper_root, session_timeout_s=config.session_timeout_s
        )
        internal = kept_secret(data_dir / INTERNAL_SECRET_FILE)
        common = {
            "HUBBUB_PARTITIONS": str(config.partitions),
            "HUBBUB_INTERNAL_SECRET": internal,
            "HUBBUB_ZOOKEEPER_HOSTS": settings.hosts,
            "HUBBUB_ZOOKEEPER_ROOT": settings.root,
            "HUBBUB_ZOOKEEPER_SESSION_TIMEOUT_S": str(settings.session_timeout_s),
            "PYTHONUNBUFFERED": "1",
        }
        token = {"HUBBUB_TOKEN_SECRET": kept_secret(data_dir / TOKEN_SECRET_FILE)}
        # With the cluster's Redis, presence keeps its state there (presence/redis_backend.py;
        # a lease another presence process took still expires: checked each second), and edges
        # write the connection registry there, which routers read (router/redis_directory.py).
        presence: dict[str, str] = {}
        shared: dict[str, str] = {}
        if cluster.redis is not None:
            url = cluster.redis.url
            presence = {"HUBBUB_BACKEND": "redis", "HUBBUB_REDIS_URL": url, "HUBBUB_EXPIRY_CHECK_MS": "1000"}
            shared = {"HUBBUB_DIRECTORY_BACKEND": "redis", "HUBBUB_REDIS_URL": url}
        logs = data_dir / "logs"
        started = cluster.processes
        start_wave(
            _specs(config, "messaging", ["messaging"], {**common, **token}, extra, place)
            + _specs(config, "presence", ["presence"], {**common, **presence}, extra, place),
            logs,
            started,
        )
        targets = {
            "HUBBUB_MESSAGING_TARGET": cluster.process("messaging").addresses["messaging_target"],
            "HUBBUB_PRESENCE_TARGET": cluster.process("presence").addresses["presence_target"],
        }
        routers = [f"router-{i + 1}" for i in range(config.routers)]
        start_wave(
            _specs(config, "router", routers, {**common, **targets, **shared}, extra, place), logs, started
        )
        asyncio.run(wait_balanced(settings, config.partitions, routers))
        edges = [f"edge-{i + 1}" for i in range(config.edges)]
        start_wave(
            _specs(config, "edge", edges, {**common, **targets, **token, **shared}, extra, place)
            + _specs(config, "discovery", ["discovery"], common, extra, place),
            logs,
            started,
        )
        write_private(data_dir / STATE_FILE, json.dumps(cluster.state(), indent=2) + "\n")
    except BaseException:
        with contextlib.suppress(Exception):
            cluster.stop()
        raise
    return cluster
