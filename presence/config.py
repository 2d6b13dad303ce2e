"""The presence service's configuration: one frozen value with documented defaults,
overridable by HUBBUB_* environment variables (kernel.config.from_env), checked at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

from kernel.config import check, check_choice

BACKENDS = ("memory", "redis")


@dataclass(frozen=True)
class PresenceConfig:
    host: str = "127.0.0.1"
    """Interface the gRPC server binds."""
    port: int = 0
    """gRPC port; 0 picks a free one."""
    debounce_ms: int = 2000
    """How long a user must stay offline before watchers are told (flap suppression)."""
    max_watch_queue: int = 10_000
    """Changes buffered per watcher before it is cut off."""
    internal_secret: str = ""
    """Every call must carry it (kernel.internal_auth); empty = open (tests)."""
    internal_tls_dir: str = ""
    """Mutual TLS with this CA and certificate (kernel.internal_tls); empty = none."""
    backend: str = field(default="memory", metadata={"choices": BACKENDS})
    """Where presence state lives: memory (this process only, the single-node default) or
    redis (shared by every presence process of a cluster; presence/redis_backend.py). Where
    Redis is comes from kernel/redis_settings.RedisSettings (HUBBUB_REDIS_URL, _CLUSTER,
    _NAMESPACE), the one home of the connection options, given to deploy/backends.py."""
    expiry_check_ms: int = 0
    """Longest wait between expiry runs even when nothing is due (0 = wake only at deadlines).
    Needed when several presence processes share a backend: a report another process took may
    set a deadline this one's timer never heard of (and that process may die)."""

    def __post_init__(self) -> None:
        check_choice("backend", self.backend, BACKENDS)
        check(self.expiry_check_ms >= 0, "expiry_check_ms", "0 or more", self.expiry_check_ms)
        check(self.debounce_ms >= 0, "debounce_ms", "0 or more", self.debounce_ms)
        check(self.max_watch_queue > 0, "max_watch_queue", "positive", self.max_watch_queue)
        check(0 <= self.port <= 65535, "port", "in 0..65535", self.port)
