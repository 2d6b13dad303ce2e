"""The local ZooKeeper launcher: a standalone server and an ensemble serve real clients, the
ensemble names one leader, and a node that cannot start fails the run with its own log."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from deploy.local_servers.process import ServerStartError, free_ports, port_open
from deploy.local_servers.zookeeper import NodeSpec, ZooKeeperEnsemble, start_zookeeper


def test_a_standalone_server_serves_a_client_and_stops(tmp_path: Path) -> None:
    server = start_zookeeper(tmp_path, nodes=1)
    try:
        assert server.modes() == ["standalone"] and server.leader() == 0
        client = KazooClient(hosts=server.hosts)
        client.start(timeout=30)
        client.create("/hello", b"world")
        assert client.get("/hello")[0] == b"world"
        client.stop()
        client.close()
    finally:
        server.stop()
    assert not port_open("127.0.0.1", server.nodes[0].client_port)


def test_the_ensemble_has_one_leader_and_two_followers(zookeeper: ZooKeeperEnsemble) -> None:
    modes = zookeeper.modes()
    assert sorted(modes) == ["follower", "follower", "leader"]
    assert modes[zookeeper.leader()] == "leader" and len(zookeeper.followers()) == 2


def test_a_node_that_cannot_bind_its_port_fails_loudly(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        ensemble = ZooKeeperEnsemble(tmp_path, [NodeSpec(1, port, *free_ports(2))])
        with pytest.raises(ServerStartError, match="zookeeper-1"):
            ensemble.start(timeout=60)
    assert not any(server.running() for server in ensemble.servers)
