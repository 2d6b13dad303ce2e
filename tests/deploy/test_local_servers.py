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
