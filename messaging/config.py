"""The messaging service's configuration: one frozen value with documented defaults,
overridable by HUBBUB_* environment variables (kernel.config.from_env), checked at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kernel.errors import InvalidArgument
from kernel.ids import MAX_WORKER

STORES = ("sqlite", "memory")


@dataclass(frozen=True)
class MessagingConfig:
    host: str = "127.0.0.1"
    """Interface the gRPC server binds."""
    port: int = 0
    """gRPC port; 0 picks a free one (read it back from GrpcService.port)."""
    data_dir: Path = Path("data")
    """Where the SQLite store keeps messages.db."""
    store: str = "sqlite"
    """Store backend: "sqlite" (durable, embedded) or "memory" (tests, throwaway runs)."""
    worker_id: int = 1
    """Snowflake worker id (0..1023) for message and conversation ids; unique per process."""
    token_secret: str = "dev-secret-change-me"
    """HMAC secret for access tokens; the edges verify with the same secret."""
    token_ttl_ms: int = 7 * 24 * 3600 * 1000
    """How long an access token from log-in or sign-up stays valid (7 days)."""
    password_hash_time_cost: int = 3
    """argon2id iterations (argon2-cffi default)."""
    password_hash_memory_cost: int = 65536
    """argon2id memory in KiB (argon2-cffi default: 64 MiB)."""
    password_hash_parallelism: int = 4
    """argon2id lanes (argon2-cffi default)."""
    member_cache_size: int = 100_000
    """How many conversations' member lists the append path keeps in memory."""
    member_cache_ttl_s: float = 5.0
    """How long a cached member list is trusted. Changes made through this process invalidate
    at once; the TTL bounds staleness after changes made by another messaging process."""
    internal_secret: str = ""
    """Every call must carry this deployment secret (kernel.internal_auth); empty = open (tests)."""
    internal_tls_dir: str = ""
    """Mutual TLS with this CA and certificate (kernel.internal_tls); empty = plaintext."""

    def __post_init__(self) -> None:
        if self.store not in STORES:
            raise InvalidArgument(f"messaging store must be one of {', '.join(STORES)}, not {self.store!r}")
        if not 0 <= self.port <= 65535:
            raise InvalidArgument("messaging port must be in 0..65535")
        if not 0 <= self.worker_id <= MAX_WORKER:
            raise InvalidArgument(f"messaging worker_id must be in 0..{MAX_WORKER}")
        if not self.token_secret:
            raise InvalidArgument("messaging token_secret must not be empty")
        if self.token_ttl_ms <= 0:
            raise InvalidArgument("messaging token_ttl_ms must be positive")
        if self.password_hash_time_cost < 1 or self.password_hash_parallelism < 1:
            raise InvalidArgument("password_hash_time_cost and password_hash_parallelism must be at least 1")
        if self.password_hash_memory_cost < 8 * self.password_hash_parallelism:
            raise InvalidArgument("password_hash_memory_cost must be at least 8 KiB per lane")
        if self.member_cache_size < 0 or self.member_cache_ttl_s < 0:
            raise InvalidArgument("member cache size and ttl must not be negative")
