"""The Redis launcher: a standalone server answers, restarts on its port (empty), and stops;
the cluster fixture's three masters cover every slot; a server that cannot start fails loudly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deploy.local_servers.process import ServerStartError, port_open
from deploy.local_servers.redis import HOST, RedisClusterNodes, start_redis


def cli(port: int, *args: str) -> str:
    done = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_a_standalone_server_restarts_on_its_port_empty_and_stops(tmp_path: Path) -> None:
    node = start_redis(tmp_path)
    try:
        assert cli(node.port, "set", "k", "v") == "OK"
        pid = node.server.pid
        node.restart()
        assert node.server.pid != pid
        assert cli(node.port, "get", "k") == "", "no persistence: a restart comes back empty"
    finally:
        node.stop()
    assert not port_open(HOST, node.port)
    assert not any(tmp_path.rglob("*.rdb")) and not any(tmp_path.rglob("appendonly*"))


def test_the_cluster_covers_every_slot_with_three_masters(redis_cluster: RedisClusterNodes) -> None:
    info = cli(redis_cluster.nodes[0].port, "cluster", "info")
    assert "cluster_state:ok" in info
    assert "cluster_slots_assigned:16384" in info
    assert "cluster_size:3" in info


def test_a_server_on_a_taken_port_fails_loudly(tmp_path: Path) -> None:
    first = start_redis(tmp_path / "a")
    try:
        with pytest.raises(ServerStartError, match="exited"):
            start_redis(tmp_path / "b", port=first.port)
    finally:
        first.stop()
