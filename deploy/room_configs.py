"""Each room's config built from the node's: the one mapping from NodeConfig options to the
services' own, and a check that runs every room's validation before anything starts."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace

from deploy.config import NodeConfig
from discovery.config import DiscoveryConfig
from edge.config import LIMIT_FIELDS as EDGE_LIMIT_FIELDS
from edge.config import EdgeConfig
from kernel.config import env_name, from_env
from kernel.errors import InvalidArgument
from kernel.redis_settings import RedisSettings
from messaging.config import LIMIT_FIELDS as MESSAGING_LIMIT_FIELDS
from messaging.config import STORE_FIELDS as MESSAGING_STORE_FIELDS
from messaging.config import MessagingConfig
from presence.config import PresenceConfig
from router.config import RouterConfig
from router.push.config import PushConfig

PEER_EXPIRY_CHECK_MS = 1000
"""How often a presence process on a shared backend runs expiry with nothing due of its own."""


def limit_env_names() -> list[str]:
    """HUBBUB_<FIELD> of the rooms' limit options, which a NodeConfig does not carry."""
    return [env_name(name) for name in (*EDGE_LIMIT_FIELDS, *MESSAGING_LIMIT_FIELDS, *MESSAGING_STORE_FIELDS)]


def _limit_env(fields: tuple[str, ...]) -> dict[str, str]:
    keys = {env_name(name) for name in fields}
    return {key: value for key, value in os.environ.items() if key in keys}


def messaging_config(config: NodeConfig, secret: str) -> MessagingConfig:
    # The log-in / sign-up limits and the hash pool: HUBBUB_<FIELD> only (docs/protocol.md).
    return from_env(
        MessagingConfig,
        env=_limit_env((*MESSAGING_LIMIT_FIELDS, *MESSAGING_STORE_FIELDS)),
        data_dir=config.data_dir,
        store=config.directory_store,
        partitions=config.partitions,
        log_backend=config.log_backend,
        cassandra_hosts=config.cassandra_hosts,
        cassandra_keyspace=config.cassandra_keyspace,
        cassandra_protocol_version=config.cassandra_protocol_version,
        host=config.internal_host,
        worker_id=config.worker_id,
        token_secret=secret,
        token_ttl_ms=config.token_ttl_ms,
        internal_secret=config.internal_secret,
        internal_tls_dir=config.internal_tls_dir,
        password_hash_time_cost=config.password_hash_time_cost,
        password_hash_memory_cost=config.password_hash_memory_kib,
        password_hash_parallelism=config.password_hash_parallelism,
    )


def router_log_config(config: NodeConfig) -> MessagingConfig:
    """The log options of a router process that writes the Cassandra log itself: messaging's,
    with the next worker id (its message ids must not collide with messaging's)."""
    return replace(
        messaging_config(config, "unused: a log writer signs no tokens"),
        worker_id=(config.worker_id + 1) % 1024,
    )


def presence_config(config: NodeConfig) -> PresenceConfig:
    return PresenceConfig(
        host=config.internal_host,
        debounce_ms=config.presence_debounce_ms,
        internal_secret=config.internal_secret,
        internal_tls_dir=config.internal_tls_dir,
        backend=config.presence_backend,  # on the node's Redis: redis_settings(config)
        # shared state: deadlines set through another presence process must still be applied
        expiry_check_ms=PEER_EXPIRY_CHECK_MS if config.presence_backend == "redis" else 0,
    )


def redis_settings(config: NodeConfig) -> RedisSettings:
    """The node's Redis connection options, for every backend set to redis."""
    return RedisSettings(url=config.redis_url, cluster=config.redis_cluster, namespace=config.redis_namespace)


def router_config(config: NodeConfig, upstream: Mapping[str, str]) -> RouterConfig:
    return RouterConfig(
        host=config.internal_host,
        internal_secret=config.internal_secret,
        internal_tls_dir=config.internal_tls_dir,
        messaging_target=upstream["messaging_target"],
        presence_target=upstream["presence_target"],
        append_interval_ms=config.append_interval_ms,
        partitions=config.partitions,
        directory_backend=config.directory_backend,
    )


def edge_config(config: NodeConfig, secret: str, upstream: Mapping[str, str]) -> EdgeConfig:
    # The inbound rate limits and log-in slots: HUBBUB_<FIELD> only (docs/protocol.md).
    return from_env(
        EdgeConfig,
        env=_limit_env(EDGE_LIMIT_FIELDS),
        host=config.host,
        ws_port=config.ws_port,
        grpc_port=config.gateway_port,
        router_targets=tuple(upstream.get("router_targets", upstream["router_target"]).split(",")),
        partitions=config.partitions,
        watch_partitions=True,
        messaging_target=upstream["messaging_target"],
        presence_target=upstream["presence_target"],
        token_secret=secret,
        media_url=upstream.get("media_url", ""),
        heartbeat_interval_ms=config.heartbeat_interval_ms,
        heartbeat_timeout_ms=config.heartbeat_timeout_ms,
        send_queue_limit=config.send_queue_limit,
        send_queue_bytes=config.send_queue_bytes,
        max_frame_bytes=config.max_frame_bytes,
        ws_compression=config.ws_compression,
        presence_lease_ms=config.presence_lease_ms,
        directory_backend=config.directory_backend,
        directory_lease_ms=config.directory_lease_ms,
        router_flush_interval_ms=config.link_flush_interval_ms,
        token_check_ttl_ms=config.token_check_ttl_ms,
        internal_secret=config.internal_secret,
        internal_tls_dir=config.internal_tls_dir,
        drain_period_ms=config.drain_period_ms,
        drain_close_after_ms=config.drain_close_after_ms,
        push_webpush_hosts=from_env(PushConfig).push_webpush_hosts,
    )


def discovery_http_port(config: NodeConfig) -> int:
    """The HTTP endpoint's port: as given, else beside the gRPC port (free when that is)."""
    if config.discovery_http_port >= 0:
        return config.discovery_http_port
    return config.discovery_port + 1 if config.discovery_port else 0


def discovery_config(config: NodeConfig) -> DiscoveryConfig:
    return DiscoveryConfig(
        host=config.host,
        port=config.discovery_port,
        http_port=discovery_http_port(config),
        internal_secret=config.internal_secret,
    )


def check_room_configs(config: NodeConfig) -> None:
    """Raise InvalidArgument (naming the option) for a value a room refuses, before any
    process starts: each room's rules stay in its own config, said once."""
    placeholder = "127.0.0.1:1"  # targets are known only once the services run
    upstream = {f"{name}_target": placeholder for name in ("messaging", "presence", "router")}
    secret = config.token_secret or "not-yet-generated"
    builds: dict[str, Callable[[], object]] = {
        "messaging": lambda: messaging_config(config, secret),
        "presence": lambda: presence_config(config),
        "router": lambda: router_config(config, upstream),
        "edge": lambda: edge_config(config, secret, upstream),
        "discovery": lambda: discovery_config(config),
        "redis": lambda: redis_settings(config),
    }
    for room, build in builds.items():
        try:
            build()
        except InvalidArgument as exc:
            message = exc.message if exc.message.startswith(room) else f"{room}: {exc.message}"
            raise InvalidArgument(message) from exc
