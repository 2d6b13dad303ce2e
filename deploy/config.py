"""Configuration of a single hubbub node (`hubbub up`): one frozen dataclass, every option
with a documented default, each overridable by `HUBBUB_<OPTION>` in the environment and by
the `hubbub up --<option>` flag derived from it (kernel.config.add_config_flags)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from kernel.config import check, check_choice

STORES = ("sqlite", "memory")
TRACE_EXPORTERS = ("none", "console", "otlp")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def default_data_dir() -> Path:
    """One place per user, whatever folder `hubbub up` starts in: a relative ./data made a
    node started elsewhere come back empty (clients could no longer log in)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser().absolute() / "hubbub"


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
    token_secret: str = ""
    """Secret that signs access tokens; empty = generated once and kept in data_dir/token_secret."""
    store: str = field(default="sqlite", metadata={"choices": STORES})
    """Message store backend: sqlite (durable, default) or memory (for experiments)."""
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
    send_queue_limit: int = 1024
    """Frames queued per connection before a slow client is disconnected (close 4009)."""
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
    """An edge writes to a router at most once per interval, batching the frames between."""
    processes: str = "edge/messaging"
    """Process layout: groups of services (messaging, presence, router, edge) joined by '+'
    and separated by '/', each group a child process; services not named (here router and
    presence) stay in this process. "one" runs everything in this process. The default was
    measured best on 2 cores (docs/performance.md)."""
    trace_exporter: str = field(default="none", metadata={"choices": TRACE_EXPORTERS})
    """OpenTelemetry exporter: none, console or otlp."""
    otlp_endpoint: str = "http://127.0.0.1:4317"
    """Where the otlp exporter sends spans."""
    push_log: bool = True
    """Write push notifications for offline users to data_dir/push.jsonl (the log push backend)."""
    log_level: str = "INFO"
    """Least severity logged to stderr: DEBUG, INFO, WARNING, ERROR or CRITICAL."""

    def __post_init__(self) -> None:
        check_choice("store", self.store, STORES)
        check_choice("trace_exporter", self.trace_exporter, TRACE_EXPORTERS)
        level = self.log_level.upper()
        check(level in LOG_LEVELS, "log_level", f"one of {', '.join(LOG_LEVELS)}", self.log_level)
        object.__setattr__(self, "log_level", level)  # logging knows only the upper-case names
        check(0 <= self.worker_id <= 1023, "worker_id", "in 0..1023", self.worker_id)
        for name in ("ws_port", "gateway_port", "discovery_port"):
            check(0 <= getattr(self, name) <= 65535, name, "in 0..65535", getattr(self, name))
        check(self.heartbeat_interval_ms > 0, "heartbeat_interval_ms", "positive", self.heartbeat_interval_ms)
        check(
            self.heartbeat_timeout_ms > self.heartbeat_interval_ms,
            "heartbeat_timeout_ms",
            f"greater than heartbeat_interval_ms ({self.heartbeat_interval_ms})",
            self.heartbeat_timeout_ms,
        )

    def validate(self) -> NodeConfig:
        """Kept for callers written before validation moved into `__post_init__`: a NodeConfig
        that exists is valid."""
        return self


def token_secret_for(config: NodeConfig) -> str:
    """The configured secret, or the one generated on first start and kept in the data dir."""
    if config.token_secret:
        return config.token_secret
    path = config.data_dir / "token_secret"
    if path.exists():
        return path.read_text().strip()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(secret)
    return secret
