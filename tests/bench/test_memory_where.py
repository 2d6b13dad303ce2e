"""`hubbub bench connections --tracemalloc`: a process started with the hook writes a snapshot
on SIGUSR2, and the report names the site that grew, per connection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench import memory_where

CHILD = """
import sys
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()
kept = [bytearray(1000) for _ in range(1000)]  # the growth the report must find
sys.stdout.write("grown\\n"); sys.stdout.flush()
sys.stdin.readline()
"""


def test_snapshots_of_a_hooked_process_show_what_grew_per_connection(tmp_path: Path) -> None:
    env = {**os.environ, **dict(memory_where.node_env(tmp_path, 1))}
    command = [sys.executable, "-c", CHILD]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        before = memory_where.take(child.pid, tmp_path)
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "grown\n"
        after = memory_where.take(child.pid, tmp_path)
        child.stdin.write("done\n")
        child.stdin.flush()
    traced, sites = memory_where.grown(before[0].path, after[0].path, connections=10)
    assert traced >= 100_000  # 1,000 x 1,000 bytes over 10 "connections"
    assert sites[0].where == "<string>:5" and sites[0].blocks_per_conn >= 100
    report = "\n".join(memory_where.report(before, after, 10, "lineno"))
    assert "`<string>:5`" in report and "B/connection" in report
