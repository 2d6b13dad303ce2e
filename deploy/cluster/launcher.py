"""Start a whole cluster on this machine, in dependency order, each service its own process:
ZooKeeper (and Redis; a local Cassandra with store = cassandra), then messaging and presence,
then the routers (until they have split the partitions) and the blob server, then the edges
and discovery. Stopped back to front by PID; whatever started is stopped when a later step
fails."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deploy.cluster.config import ClusterConfig
from deploy.cluster.processes import READY_TIMEOUT_S, ClusterProcess, ProcessSpec, start_wave
from deploy.config import INTERNAL_SECRET_FILE, write_private
from deploy.local_servers.process import LocalServer, ServerStartError, free_ports
from deploy.local_servers.redis import RedisNode, start_redis
from deploy.local_servers.zookeeper import ZooKeeperEnsemble, start_zookeeper
from discovery.zk_ownership import ZkOwnership
from discovery.zk_paths import ZooKeeperSettings
from kernel.ownership import PartitionMap

log = logging.getLogger(__name__)
STATE_FILE = "cluster.json"
BALANCE_TIMEOUT_S = 120.0
TOKEN_SECRET_FILE = "token_secret"
ROUTER_WORKER_IDS = 2
"""router-N's snowflake worker id is ROUTER_WORKER_IDS + N - 1 (messaging keeps 1): with the
log in Cassandra each router gives its messages' ids itself."""
CASSANDRA_KEYSPACE = "hubbub"

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
    cassandra: LocalServer | None = None
    cassandra_hosts: str = ""
    """The Cassandra the log is in (store = cassandra), HOST:PORT."""
    steps: StartSteps | None = None
    """How long each step of its start took (StartSteps.took)."""

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
            "cassandra_hosts": self.cassandra_hosts,
            "processes": [
                {"name": p.name, "role": p.spec.role, "pid": p.pid, **p.addresses} for p in self.processes
            ],
        }

    def stop(self) -> None:
        """Front to back: discovery and edges (clients leave), the blob server, routers, presence, messaging,
        then Redis and ZooKeeper. Each TERM, then KILL after its grace."""
        order = ("discovery", "edge", "media", "router", "presence", "messaging")
        for role in order:
            for process in self.of_role(role):
                process.server.stop()
        if self.cassandra is not None:
            self.cassandra.stop()
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
    if role == "router":  # worker ids: messaging's is 1, each router gives message ids too
        return {"HUBBUB_ROUTER_ID": name, "HUBBUB_WORKER_ID": str(ROUTER_WORKER_IDS + index)}
    if role == "edge":
        ws_port = config.ws_port + index if config.ws_port else 0
        return {"HUBBUB_EDGE_ID": name, "HUBBUB_HOST": config.host, "HUBBUB_WS_PORT": str(ws_port)}
    if role == "discovery":
        return {"HUBBUB_HOST": config.host, "HUBBUB_PORT": str(config.discovery_port)}
    if role == "messaging":
        return {"HUBBUB_DATA_DIR": str(config.data_dir / "messaging"), "HUBBUB_STORE": "sqlite"}
    if role == "media":
        return {"HUBBUB_MEDIA_DATA_DIR": str(config.data_dir / "media"), "HUBBUB_MEDIA_HOST": config.host}
    return {}


class StartSteps:
    """The whole start's deadline, and how long each step took: a step gets what is left of
    the deadline (at most its own bound), and a failure says where it was and what took long."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s
        self.took: dict[str, float] = {}

    def budget(self, bound_s: float) -> float:
        return max(0.1, min(bound_s, self._deadline - time.monotonic()))

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        if began >= self._deadline:
            raise ServerStartError(f"the cluster did not start in {self.timeout_s:.0f} s ({self.summary()})")
        try:
            yield
        except ServerStartError as error:
            took = time.monotonic() - began
            raise ServerStartError(f"{name} failed after {took:.1f} s ({self.summary()}): {error}") from error
        self.took[name] = time.monotonic() - began
        log.info("cluster start: %s took %.1f s", name, self.took[name])

    def summary(self) -> str:
        done = ", ".join(f"{name} {took:.1f} s" for name, took in self.took.items())
        return f"steps done: {done or 'none'}; start_timeout_s {self.timeout_s:.0f}"


async def wait_balanced(
    settings: ZooKeeperSettings, partitions: int, routers: list[str], timeout_s: float = BALANCE_TIMEOUT_S
) -> PartitionMap:
    """Until every partition is owned and the routers' shares differ by at most one."""
    last: PartitionMap | None = None
    try:
        async with asyncio.timeout(timeout_s):
            observer = await ZkOwnership.connect(settings, partitions)
            try:
                async for current in observer.watch():
                    last = current
                    counts = [len(current.held_by(r)) for r in routers]
                    if all(o is not None for o in current.owners) and max(counts) - min(counts) <= 1:
                        return current
            finally:
                await observer.close()
    except TimeoutError:
        raise ServerStartError(
            f"the routers did not split the partitions within {timeout_s:.0f} s "
            f"(the last map seen: {describe_split(last, routers)}; their logs say more)"
        ) from None
    raise ServerStartError("the partition map watch ended")


def start_local_cassandra(cluster: RunningCluster, root: Path) -> dict[str, str]:
    """Start the demo Cassandra (kept in `cluster`, stopped with it), migrate its keyspace,
    and return the environment that points messaging and the routers at it."""
    from deploy.cassandra.migrate import migrate  # the driver only where Cassandra runs
    from deploy.local_servers.cassandra import DATACENTER, start_cassandra
    from messaging.config import CassandraOptions

    cluster.cassandra = start_cassandra(root)
    host, port = str(cluster.cassandra.info["host"]), int(str(cluster.cassandra.info["port"]))
    cluster.cassandra_hosts = f"{host}:{port}"
    options = CassandraOptions(hosts=((host, port),), keyspace=CASSANDRA_KEYSPACE, protocol_version=1)
    asyncio.run(migrate(options, {DATACENTER: 1}))  # applies only what is new on a restart
    return {
        "HUBBUB_LOG_BACKEND": "cassandra",
        "HUBBUB_CASSANDRA_HOSTS": cluster.cassandra_hosts,
        "HUBBUB_CASSANDRA_KEYSPACE": CASSANDRA_KEYSPACE,
        "HUBBUB_CASSANDRA_PROTOCOL_VERSION": "1",  # Cassandra 1.2 speaks only v1
        "HUBBUB_CASSANDRA_LOCAL_DC": DATACENTER,
    }


def describe_split(current: PartitionMap | None, routers: list[str]) -> str:
    """Who held how many, and what was unowned: what a split that never ends looked like."""
    if current is None:
        return "none"
    held = ", ".join(f"{r} {len(current.held_by(r))}" for r in routers)
    unowned = [p for p, owner in enumerate(current.owners) if owner is None]
    others = sorted(set(current.routers()) - set(routers))
    return f"{held}; unowned {unowned or 'none'}" + (f"; other owners {others}" if others else "")


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
    steps = cluster.steps = StartSteps(config.start_timeout_s)
    try:
        if zookeeper_hosts is None:
            with steps.step("zookeeper"):
                cluster.zookeeper = start_zookeeper(data_dir / "zookeeper", nodes=config.zookeeper_nodes)
            cluster.zookeeper_hosts = cluster.zookeeper.hosts
        if config.redis:
            with steps.step("redis"):  # bounded by start_server's own ready timeout
                cluster.redis = start_redis(data_dir / "redis")
        store: dict[str, str] = {}
        if config.store == "cassandra":
            with steps.step("cassandra"):
                store = start_local_cassandra(cluster, data_dir / "cassandra")
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
        # write the connection registry there, which routers read (router/redis_directory.py);
        # edges publish and follow cluster events (log out everywhere) over its pub/sub.
        presence: dict[str, str] = {}
        shared: dict[str, str] = {}
        events: dict[str, str] = {}
        if cluster.redis is not None:
            url = cluster.redis.url
            presence = {"HUBBUB_BACKEND": "redis", "HUBBUB_REDIS_URL": url, "HUBBUB_EXPIRY_CHECK_MS": "1000"}
            shared = {"HUBBUB_DIRECTORY_BACKEND": "redis", "HUBBUB_REDIS_URL": url}
            events = {"HUBBUB_EVENTS_BACKEND": "redis"}
        # The blob server's port, picked now: messaging (started before it) and the routers
        # remove a deleted message's object through its internal delete (media/internal_delete.py).
        (media_port,) = free_ports(1, config.host)
        blobs = {"HUBBUB_MEDIA_INTERNAL_URL": f"http://{config.host}:{media_port}"}
        logs = data_dir / "logs"
        started = cluster.processes
        with steps.step("messaging and presence"):
            start_wave(
                _specs(
                    config, "messaging", ["messaging"], {**common, **token, **store, **blobs}, extra, place
                )
                + _specs(config, "presence", ["presence"], {**common, **presence}, extra, place),
                logs,
                started,
                steps.budget(READY_TIMEOUT_S),
            )
        targets = {
            "HUBBUB_MESSAGING_TARGET": cluster.process("messaging").addresses["messaging_target"],
            "HUBBUB_PRESENCE_TARGET": cluster.process("presence").addresses["presence_target"],
        }
        routers = [f"router-{i + 1}" for i in range(config.routers)]
        # The blob server: one per cluster, known to every edge (its URL), sharing the edges'
        # token secret (the media HMAC key is derived from it) and reading messaging's history.
        router_specs = _specs(
            config, "router", routers, {**common, **targets, **shared, **store, **blobs}, extra, place
        )
        media_env = {**common, **targets, **token, "HUBBUB_MEDIA_PORT": str(media_port)}
        media_specs = _specs(config, "media", ["media"], media_env, extra, place)
        with steps.step("routers and the blob server"):
            start_wave(router_specs + media_specs, logs, started, steps.budget(READY_TIMEOUT_S))
        with steps.step("partition split"):
            asyncio.run(wait_balanced(settings, config.partitions, routers, steps.budget(BALANCE_TIMEOUT_S)))
        edges = [f"edge-{i + 1}" for i in range(config.edges)]
        media = {"HUBBUB_MEDIA_URL": cluster.process("media").addresses["media_url"]}
        edge_env = {**common, **targets, **token, **shared, **events, **media}
        with steps.step("edges and discovery"):
            start_wave(
                _specs(config, "edge", edges, edge_env, extra, place)
                + _specs(config, "discovery", ["discovery"], common, extra, place),
                logs,
                started,
                steps.budget(READY_TIMEOUT_S),
            )
        write_private(data_dir / STATE_FILE, json.dumps(cluster.state(), indent=2) + "\n")
    except BaseException:
        with contextlib.suppress(Exception):
            cluster.stop()
        raise
    return cluster
