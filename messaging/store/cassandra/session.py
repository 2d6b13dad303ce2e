"""Connecting to a Cassandra or ScyllaDB cluster as the driver's users expect: token-aware and
DC-aware balancing, one consistency for every request, prepared statements (statements.py).

Consistency "auto" is LOCAL_QUORUM on servers that speak native protocol v2 or later, and ONE
on Cassandra 1.2 (protocol v1, which knows no LOCAL_ONE; the driver's default LOCAL_ONE makes
1.2 drop the connection, so the session starts at ONE and is raised once the protocol is known).

Authentication (PasswordAuthenticator roles) and TLS (a CA to check the servers, a client
certificate for servers that require one) when the options ask: docs/cassandra.md."""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

from messaging.config import CassandraOptions
from messaging.store.cassandra.errors import as_store_error


class _LegacyTablesFilter(logging.Filter):
    """On Cassandra 1.2 the driver finds no column metadata for tables without a regular column
    (its own system tables; our message_keys and seals) and says so once per table at every
    connect. Those statements are routed DC-aware without token awareness there; the lines say
    nothing else, so just those are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Building table metadata with no column meta")


logging.getLogger("cassandra.metadata").addFilter(_LegacyTablesFilter())


@dataclass
class CassandraSession:
    """An open cluster connection; `close` ends it. `modern`: the server has paging and LOCAL_*
    consistency (protocol v2+)."""

    cluster: Any
    session: Any
    consistency: int
    modern: bool

    def close(self) -> None:
        self.cluster.shutdown()


def consistency_for(option: str, protocol_version: int) -> int:
    if option != "auto":
        level: int = getattr(ConsistencyLevel, option)
        return level
    modern: int = ConsistencyLevel.LOCAL_QUORUM
    oldest: int = ConsistencyLevel.ONE
    return modern if protocol_version >= 2 else oldest


def tls_context(options: CassandraOptions) -> ssl.SSLContext | None:
    """The TLS context the options describe (None: plaintext): the servers' certificates checked
    against the CA file (or the system's CAs), and this client's certificate when given."""
    if not options.tls:
        return None
    context = ssl.create_default_context(cafile=options.tls_ca_file or None)
    context.check_hostname = options.tls_check_hostname  # the driver names each contact point
    if options.tls_cert_file:
        context.load_cert_chain(options.tls_cert_file, options.tls_key_file)
    return context


def security(options: CassandraOptions) -> dict[str, Any]:
    """The Cluster arguments for authentication and TLS (none when the options ask for neither)."""
    extra: dict[str, Any] = {}
    if options.username:
        extra["auth_provider"] = PlainTextAuthProvider(options.username, options.password)
    context = tls_context(options)
    if context is not None:
        extra["ssl_context"] = context
    return extra


def _connect_blocking(options: CassandraOptions) -> CassandraSession:
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=options.local_dc)),
        consistency_level=ConsistencyLevel.ONE,
        request_timeout=options.request_timeout_s,
    )
    ports = {port for _, port in options.hosts}
    extra = security(options)
    if options.protocol_version:
        extra["protocol_version"] = options.protocol_version
    cluster = Cluster(
        [host for host, _ in options.hosts],
        port=ports.pop(),
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=options.request_timeout_s,
        **extra,
    )
    try:
        session = cluster.connect()
    except Exception:
        cluster.shutdown()
        raise
    version = int(cluster.protocol_version)
    profile.consistency_level = consistency_for(options.consistency, version)
    return CassandraSession(cluster, session, profile.consistency_level, modern=version >= 2)


async def connect(options: CassandraOptions) -> CassandraSession:
    """Connect (the driver's connect blocks: once, in a worker thread). Raises retryable
    Unavailable when no contact point answers."""
    try:
        return await asyncio.to_thread(_connect_blocking, options)
    except Exception as exc:
        raise as_store_error(exc) from exc
