"""Where a process's Redis backends connect: the one home of the connection options (the node's
redis_url, redis_cluster and redis_namespace become one RedisSettings), and the backend names a
room with a shared-state backend may be set to. No redis import here: configs load it cheaply."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.config import check
from kernel.redis_keys import DEFAULT_NAMESPACE

BACKENDS = ("memory", "redis")
"""A room's shared state: memory (this process only, the single-node default) or redis."""
ENV_PREFIX = "HUBBUB_REDIS_"
"""from_env(RedisSettings, prefix=ENV_PREFIX) reads HUBBUB_REDIS_URL, _CLUSTER and _NAMESPACE:
the same variables as the node's redis_url, redis_cluster and redis_namespace options."""


@dataclass(frozen=True)
class RedisSettings:
    url: str = "redis://127.0.0.1:6379/0"
    """The Redis server, or any node of a Redis Cluster."""
    cluster: bool = False
    """url names a Redis Cluster node."""
    namespace: str = DEFAULT_NAMESPACE
    """Prefix of every key and channel (kernel/redis_keys.py): deployments sharing a Redis differ."""

    def __post_init__(self) -> None:
        check(bool(self.url), "redis_url", "set", self.url)
        check(bool(self.namespace), "redis_namespace", "not empty", self.namespace)
