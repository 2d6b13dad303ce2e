"""`hubbub cluster up` as a user runs it: it prints where clients connect, `hubbub cluster
status` shows the nodes and the partitions' owners, and SIGTERM stops every process it
started (none is left behind). Bad options exit 2 with the option named."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.cluster.status import partition_ranges

HUBBUB = [sys.executable, "-m", "deploy.cli"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_partition_ranges_are_runs() -> None:
    assert partition_ranges([7, 0, 1, 2, 5, 8]) == "0-2,5,7-8"
    assert partition_ranges([]) == ""


def test_a_bad_option_exits_2_naming_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [*HUBBUB, "cluster", "up", "--routers", "0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "routers" in result.stderr, result.stderr


def test_status_without_a_cluster_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [*HUBBUB, "cluster", "status", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "hubbub cluster up" in result.stderr, result.stderr


@pytest.mark.slow
def test_cluster_up_prints_where_to_connect_shows_its_status_and_stops_everything_on_sigterm(
    tmp_path: Path,
) -> None:
    data = tmp_path / "cluster"
    with subprocess.Popen(
        [*HUBBUB, "cluster", "up", "--partitions", "8", "--zookeeper-nodes", "1", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as up:
        try:
            check_cluster_up(up, data)
        finally:
            if up.poll() is None:  # a failed check: SIGTERM, so that it stops its children
                up.terminate()
                try:
                    up.wait(60)
                except subprocess.TimeoutExpired:
                    up.kill()
                    up.wait()


def check_cluster_up(up: subprocess.Popen[str], data: Path) -> None:
    assert up.stdout is not None
    banner = []
    for line in up.stdout:  # blocks until the banner (or exit: then the loop ends)
        banner.append(line)
        if line.startswith("Ctrl-C"):
            break
    text = "".join(banner)
    assert "edge-1 WebSocket:" in text and "edge-2 WebSocket:" in text and "discovery" in text, text + (
        up.stderr.read() if up.poll() is not None and up.stderr else ""
    )
    state = json.loads((data / "cluster.json").read_text())
    pids = [p["pid"] for p in state["processes"]]
    assert len(pids) == 8 and all(alive(pid) for pid in pids)  # with the blob server
    assert "blob server (attachments):     http://127.0.0.1:" in text, text
    status = subprocess.run(
        [*HUBBUB, "cluster", "status", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    for node in ("edge-1", "edge-2", "router-1", "router-2"):
        assert node in status.stdout
    assert "(nobody)" not in status.stdout, status.stdout
    owned = [
        line for line in status.stdout.splitlines() if line.strip().startswith("router-") and ":" in line
    ]
    assert sorted(line.split()[1].rstrip(",") for line in owned) == ["4", "4"], status.stdout
    up.send_signal(signal.SIGTERM)
    assert up.wait(60) == 0
    assert not [pid for pid in pids if alive(pid)], "a process outlived cluster up"
    assert not (data / "cluster.json").exists()
