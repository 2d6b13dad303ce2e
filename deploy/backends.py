"""The one factory that turns a backend named in configuration into the object behind a room's
interface (rooms never choose by a config string themselves)."""

from __future__ import annotations

from kernel.clock import Clock
from kernel.cluster_events import EventBus, MemoryEventBus
from kernel.config import from_env
from kernel.redis_events import RedisEventBus
from kernel.redis_keys import DirectoryKeys, PresenceKeys
from kernel.redis_settings import ENV_PREFIX as REDIS_ENV_PREFIX
from kernel.redis_settings import RedisSettings
from presence.config import PresenceConfig
from presence.interface import PresenceBackend
from presence.redis_backend import RedisPresence
from router.redis_directory import RedisDirectory


def presence_backend(config: PresenceConfig, redis: RedisSettings, clock: Clock) -> PresenceBackend | None:
    """The backend `config.backend` names (on the Redis `redis` names), for the caller to
    close; None for memory (the presence service then makes and closes its own)."""
    if config.backend == "redis":
        return RedisPresence.connect(
            redis.url,
            clock,
            cluster=redis.cluster,
            debounce_ms=config.debounce_ms,
            keys=PresenceKeys(redis.namespace),
        )
    return None


def session_directory(backend: str, redis: RedisSettings, clock: Clock) -> RedisDirectory | None:
    """The shared connection registry `backend` names (edges write it, routers read it), for
    the caller to close; None for memory (each router keeps its own, fed by its links)."""
    if backend == "redis":
        return RedisDirectory.connect(
            redis.url, cluster=redis.cluster, clock=clock, keys=DirectoryKeys(redis.namespace)
        )
    return None


def session_directory_from_env(backend: str, clock: Clock) -> RedisDirectory | None:
    """`session_directory` for a process configured by its environment (a cluster's edge or
    router): the Redis options from HUBBUB_REDIS_URL, _CLUSTER and _NAMESPACE."""
    return session_directory(backend, from_env(RedisSettings, prefix=REDIS_ENV_PREFIX), clock)


def event_bus(backend: str, redis: RedisSettings) -> EventBus:
    """The cluster events bus `backend` names, for the caller to close: memory (this process's
    edges only) or Redis pub/sub (every process of the cluster)."""
    if backend == "redis":
        return RedisEventBus.connect(redis.url, cluster=redis.cluster, namespace=redis.namespace)
    return MemoryEventBus()


def event_bus_from_env(backend: str) -> EventBus:
    """`event_bus` for a process configured by its environment (a cluster's edge)."""
    return event_bus(backend, from_env(RedisSettings, prefix=REDIS_ENV_PREFIX))
