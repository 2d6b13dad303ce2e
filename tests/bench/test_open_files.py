"""What lets W3 reach 100,000 connections: the open-file limit raised before any process starts,
and each generator process's connections spread over loopback source addresses of its own."""

from __future__ import annotations

import resource
import subprocess
import sys

from bench.connections import SOURCES_PER_PROCESS, source_address


def test_a_process_spreads_its_connections_over_its_own_source_addresses() -> None:
    url = "ws://127.0.0.1:9000"
    first = {source_address(url, 0, k) for k in range(100)}
    second = {source_address(url, 1, k) for k in range(100)}
    assert len(first) == len(second) == SOURCES_PER_PROCESS
    assert not first & second
    assert all(address is not None and address[0].startswith("127.") for address in first)


def test_a_remote_server_gets_the_default_source_address() -> None:
    assert source_address("ws://10.0.0.5:9000", 0, 3) is None


def test_the_soft_limit_is_raised_as_far_as_this_process_may() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    code = (
        "import resource; from bench.open_files import raise_open_files;"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, (256, {hard}));"
        "print(raise_open_files())"
    )
    raised = int(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout)
    assert raised >= min(hard, 262_144) > 256
