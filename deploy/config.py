"""Configuration of a single hubbub node (`hubbub up`): one frozen dataclass, every option
with a documented default, each overridable by `HUBBUB_<OPTION>` in the environment and by
the `hubbub up --<option>` flag derived from it (kernel.config.add_config_flags)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from edge.config import DEFAULT_MAX_FRAME_BYTES, DEFAULT_SEND_QUEUE_BYTES
from kernel.config import check, check_choice, default_data_dir
from kernel.logs import LOG_FORMATS
from kernel.partitions import DEFAULT_PARTITIONS, MAX_PARTITIONS
from kernel.redis_keys import DEFAULT_NAMESPACE
from kernel.redis_settings import BACKENDS as DIRECTORY_BACKENDS
from messaging.config import LOG_BACKENDS
from presence.config import BACKENDS as PRESENCE_BACKENDS

STORES = ("sqlite", "memory", "cassandra")
TRACE_EXPORTERS = ("none", "console", "otlp")
MAX_ROUTERS = 16  # one process: more only splits its CPU
MAX_EDGES = 16  # one process, as for routers
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class NodeConfig:
    data_dir: Path = field(default_factory=default_data_dir)
    """Where the SQLite store, the token secret and the push log live (default
    $XDG_DATA_HOME/hubbub, else ~/.local/share/hubbub)."""
    host: str = "127.0.0.1"
    """Interface every server binds; internal services always bind loopback."""
    ws_port: int = 8765
    """WebSocket port for clients (0 = any free port)."""
    gateway_port: int = 8766
    """gRPC-stream port for service clients (0 = any free port)."""
    discovery_port: int = 8767
    """Discovery gRPC port (the admin CLI's target; 0 = any free port)."""
    discovery_http_port: int = -1
    """Discovery's HTTP endpoint for browsers, `GET /v1/edge?user=..`: 0 = any free port; -1
    (the default) = discovery_port + 1 (8768), or any free port when discovery_port is 0."""
    media_port: int = 0
    """Port of the blob server that takes attachment uploads and serves downloads (files under
    data_dir/media). 0 = any free port: clients learn it from the signed URLs they are given."""
    media_public_url: str = ""
    """The blob server's base URL as clients reach it (behind a proxy); empty = http://HOST:PORT
    of the blob server itself."""
    token_secret: str = ""
    """Secret that signs access tokens; empty = generated once and kept in data_dir/token_secret."""
    store: str = field(default="sqlite", metadata={"choices": STORES})
    """Message store backend: sqlite (durable, default), memory (for experiments) or cassandra
    (messages and cursors in the Cassandra/ScyllaDB cluster at --cassandra-hosts, the same as
    --log-backend cassandra; users, conversations and membership stay in data_dir's SQLite
    file: docs/cassandra.md)."""
    worker_id: int = 1
    """Snowflake worker id of this node's messaging service (0..1023, unique per process)."""
    heartbeat_interval_ms: int = 15_000
    """Clients ping at least this often."""
    heartbeat_timeout_ms: int = 45_000
    """A connection silent this long is closed and counted offline."""
    presence_lease_ms: int = 30_000
    """An edge's sessions expire this long after its last presence report."""
    presence_debounce_ms: int = 2_000
    """Offline is announced only after a user stayed offline this long (flap suppression)."""
    presence_backend: str = field(default="memory", metadata={"choices": PRESENCE_BACKENDS})
    """Presence state: memory (this node only) or redis (shared by a cluster's presence processes)."""
    directory_backend: str = field(default="memory", metadata={"choices": DIRECTORY_BACKENDS})
    """Connection registry (user/device -> edge): memory (each router learns sessions from its
    links, this node only) or redis (edges write it under their leases, routers read it)."""
    directory_lease_ms: int = 30_000
    """With the redis directory: a dead edge's sessions are cleared this long after its last
    lease renewal (every lease/3, at least every second)."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis (or any node of a Redis Cluster) for the backends set to redis."""
    redis_cluster: bool = False
    """redis_url names a Redis Cluster node."""
    redis_namespace: str = DEFAULT_NAMESPACE
    """Prefix of every Redis key and channel (kernel/redis_keys.py)."""
    send_queue_limit: int = 1024
    """Frames queued per connection before a slow client is disconnected (close 4009)."""
    send_queue_bytes: int = DEFAULT_SEND_QUEUE_BYTES
    """Bytes waiting for one client (queue plus unsent socket buffer) before it is closed 4009."""
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    """Largest client message on either transport (just above the largest legal send)."""
    ws_compression: bool = False
    """permessage-deflate on WebSocket (costs ~3x memory per connection)."""
    password_hash_time_cost: int = 3
    """argon2id iterations for stored passwords."""
    password_hash_memory_kib: int = 65_536
    """argon2id memory per hash, KiB (64 MiB)."""
    password_hash_parallelism: int = 4
    """argon2id lanes."""
    append_interval_ms: float = 4.0
    """A router starts at most one persist batch per interval (a lone send goes at once):
    fewer, larger Append calls for less CPU, at up to this much added latency under load."""
    link_flush_interval_ms: float = 2.0
    """An edge writes to a router in another process at most once per interval, batching the
    frames between (to one in its own process: once per event-loop turn, no timer)."""
    processes: str = "edge"
    """Process layout: groups of services (messaging, presence, router, edge) joined by '+'
    and separated by '/', each group a child process; services not named (here messaging,
    presence and router, which then call each other in-process) stay in this process. "one"
    runs everything in this process. The default was measured best on 2 cores
    (docs/performance.md, "Fewer hops")."""
    trace_exporter: str = field(default="none", metadata={"choices": TRACE_EXPORTERS})
    """OpenTelemetry exporter: none, console or otlp."""
    otlp_endpoint: str = "http://127.0.0.1:4317"
    """Where the otlp exporter sends spans."""
    trace_sample_ratio: float = 1.0
    """Share of messages traced when trace_exporter is set (0..1, decided where a trace
    starts; the other hops follow). With no exporter (the default) nothing is traced."""
    metrics_port: int = 0
    """Prometheus endpoint of this process (`/metrics` on internal_host; 0 = any free port,
    -1 = none). Child processes serve their own, on the next ports in start order when this
    is fixed (9464: the router's process 9464, the edge's 9465, ...); `hubbub up` prints each."""
    push_log: bool = True
    """Write push notifications for offline users to data_dir/push.jsonl (the log push backend)."""
    log_level: str = "INFO"
    """Least severity logged to stderr: DEBUG, INFO, WARNING, ERROR or CRITICAL."""
    log_format: str = field(default="text", metadata={"choices": LOG_FORMATS})
    """text (lines for people) or json (one object per line: time, level, process, logger,
    message, and a connection's session, user, device and peer)."""
    internal_secret: str = ""
    """Secret every internal gRPC call carries (edge, router, messaging, presence check it in
    constant time; distinct from token_secret). Empty = a fresh one generated at each start-up
    and handed to child processes over their stdin, never argv or the environment. A cluster
    sets the same value on every process."""
    internal_host: str = "127.0.0.1"
    """Interface the internal services (messaging, presence, router) bind: loopback unless a
    cluster spreads them over machines."""
    token_ttl_ms: int = 7 * 24 * 3600 * 1000
    """How long an access token stays valid (7 days); "log out everywhere" revokes earlier."""
    internal_tls_dir: str = ""
    """Mutual TLS between internal services: a directory with ca.crt (the deployment's CA),
    node.crt and node.key (this node's certificate, its SANs naming internal_host). Empty =
    plaintext on loopback, authenticated by internal_secret alone."""
    token_check_ttl_ms: int = 10_000
    """How long an edge reuses a user's token generation when checking token hellos (a
    revocation through another edge is seen within this long)."""
    routers: int = 1
    """Routers in the router process, splitting the partitions between them (in-process
    ownership, docs/architecture.md); `hubbub admin move-partition` moves one."""
    edges: int = 1
    """Edges in the edge process (edge-1..edge-N), edge i on ws_port+10(i-1) and
    gateway_port+10(i-1) (any free ports when those are 0), registered with discovery and linked
    to every router;
    clients ask discovery which to use, and `hubbub admin drain edge-N` moves them off one."""
    drain_period_ms: int = 30_000
    """A drained edge tells its clients to reconnect elsewhere spread over this long."""
    drain_close_after_ms: int = 10_000
    """A drained edge's client still connected this long after being told is closed (4010)."""
    partitions: int = DEFAULT_PARTITIONS
    """P, the number of partitions conversations are spread over (kernel/partitions.py); fixed
    for a deployment's data."""
    log_backend: str = field(default="sqlite", metadata={"choices": LOG_BACKENDS})
    """Where the message log and the cursors live: sqlite (in `store`, default) or cassandra
    (the cluster at cassandra_hosts, migrated by `hubbub store migrate`; docs/cassandra.md).
    `--store cassandra` sets it. The other cassandra_* options are HUBBUB_CASSANDRA_* variables."""
    cassandra_hosts: str = "127.0.0.1:9042"
    """Contact points of the Cassandra or ScyllaDB cluster, HOST[:PORT],... (9042 when left
    out; one port for all), e.g. db1,db2:9042."""
    cassandra_keyspace: str = "hubbub"
    """The keyspace `hubbub store migrate` created."""
    cassandra_protocol_version: int = 0
    """Native protocol version: 0 lets the driver negotiate; 1 for Cassandra 1.2."""

    def __post_init__(self) -> None:
        check_choice("store", self.store, STORES)
        check_choice("log_backend", self.log_backend, LOG_BACKENDS)
        if self.store == "cassandra":  # --store cassandra: the log there, the directory in SQLite
            object.__setattr__(self, "log_backend", "cassandra")
        check_choice("presence_backend", self.presence_backend, PRESENCE_BACKENDS)
        check_choice("directory_backend", self.directory_backend, DIRECTORY_BACKENDS)
        check_choice("log_format", self.log_format, LOG_FORMATS)
        check_choice("trace_exporter", self.trace_exporter, TRACE_EXPORTERS)
        check(0.0 <= self.trace_sample_ratio <= 1.0, "trace_sample_ratio", "in 0..1", self.trace_sample_ratio)
        level = self.log_level.upper()
        check(level in LOG_LEVELS, "log_level", f"one of {', '.join(LOG_LEVELS)}", self.log_level)
        object.__setattr__(self, "log_level", level)  # logging knows only the upper-case names
        check(0 <= self.worker_id <= 1023, "worker_id", "in 0..1023", self.worker_id)
        check(
            -1 <= self.discovery_http_port <= 65535,
            "discovery_http_port",
            "in -1..65535",
            self.discovery_http_port,
        )
        check(-1 <= self.metrics_port <= 65535, "metrics_port", "in -1..65535", self.metrics_port)
        for name in ("ws_port", "gateway_port", "discovery_port"):
            check(0 <= getattr(self, name) <= 65535, name, "in 0..65535", getattr(self, name))
        check(self.heartbeat_interval_ms > 0, "heartbeat_interval_ms", "positive", self.heartbeat_interval_ms)
        check(
            self.heartbeat_timeout_ms > self.heartbeat_interval_ms,
            "heartbeat_timeout_ms",
            f"greater than heartbeat_interval_ms ({self.heartbeat_interval_ms})",
            self.heartbeat_timeout_ms,
        )
        check(1 <= self.routers <= MAX_ROUTERS, "routers", f"in 1..{MAX_ROUTERS}", self.routers)
        check(1 <= self.edges <= MAX_EDGES, "edges", f"in 1..{MAX_EDGES}", self.edges)
        for name in ("drain_period_ms", "drain_close_after_ms"):
            check(getattr(self, name) >= 0, name, "0 or more", getattr(self, name))
        check(
            1 <= self.partitions <= MAX_PARTITIONS, "partitions", f"in 1..{MAX_PARTITIONS}", self.partitions
        )
        check(self.routers <= self.partitions, "routers", "at most partitions", self.routers)
        check(self.token_ttl_ms > 0, "token_ttl_ms", "positive", self.token_ttl_ms)
        check(self.token_check_ttl_ms >= 0, "token_check_ttl_ms", "0 or more", self.token_check_ttl_ms)
        check(
            not self.internal_secret or self.internal_secret != self.token_secret,
            "internal_secret",
            "different from token_secret",
            "(the same secret)",
        )

    @property
    def directory_store(self) -> str:
        """The store of users, conversations and membership: `store`, but sqlite for
        cassandra (the directory stays relational: docs/cassandra.md)."""
        return "sqlite" if self.store == "cassandra" else self.store


def with_secrets(config: NodeConfig) -> NodeConfig:
    """The config with both secrets filled in: what every service of this node is given. A
    generated internal secret is also left in data_dir/internal_secret (0600, replaced at each
    start) for the admin CLI (`hubbub discovery --data-dir`)."""
    internal = config.internal_secret
    if not internal:
        internal = secrets.token_urlsafe(32)
        write_private(config.data_dir / INTERNAL_SECRET_FILE, internal)
    return replace(config, token_secret=token_secret_for(config), internal_secret=internal)


INTERNAL_SECRET_FILE = "internal_secret"


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, whatever was there before."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def token_secret_for(config: NodeConfig) -> str:
    """The configured secret, or the one generated on first start and kept in the data dir."""
    if config.token_secret:
        return config.token_secret
    path = config.data_dir / "token_secret"
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(32)
    write_private(path, secret)
    return secret
