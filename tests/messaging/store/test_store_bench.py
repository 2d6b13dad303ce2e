"""Smoke test of bench/store_bench.py: a short run prints one JSON line with the figures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bench.store_bench import main
from bench.store_bench_cassandra import KEYSPACE
from deploy.cassandra.migrate import migrate
from deploy.local_servers.cassandra import DATACENTER
from messaging.config import CassandraOptions


def test_store_bench_reports_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--seconds", "0.5", "--senders", "8", "--conversations", "3", "--batch", "2"]
    assert main([*argv, "--data-dir", str(tmp_path)]) == 0
    # Reusing the directory must work too (conversations exist, client ids are new).
    assert main([*argv, "--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    for line in (lines[0], lines[-1]):
        result = json.loads(line)
        assert result["messages"] > 0 and result["messages"] % 2 == 0
        assert result["messages_per_s"] > 0
        assert result["commits"] > 0
        assert 0 < result["p50_ms"] <= result["p99_ms"]
        assert result["senders"] == 8
        assert_history_read(result)


def assert_history_read(result: dict[str, Any]) -> None:
    """Both kinds of history read ran and returned messages (the 50 newest; the 50 after N)."""
    assert result["history_reads"] > 0
    for kind in ("newest", "after"):
        assert 0 < result[f"history_{kind}_p50_ms"] <= result[f"history_{kind}_p99_ms"]
        assert result[f"history_{kind}_rows_per_read"] > 0


def test_store_bench_rejects_bad_arguments() -> None:
    with pytest.raises(SystemExit):
        main(["--senders", "0"])
    with pytest.raises(SystemExit):
        main(["--store", "sqlite,oracle"])


async def test_store_bench_on_cassandra_reports_both_processes_cpu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cassandra_options: CassandraOptions
) -> None:
    """On the session's Cassandra (`--cassandra-hosts`; without it the bench starts its own)."""
    options = CassandraOptions(hosts=cassandra_options.hosts, keyspace=KEYSPACE, protocol_version=1)
    await migrate(options, {DATACENTER: 1})
    ((host, port),) = options.hosts
    argv = [
        "--cassandra-hosts",
        f"{host}:{port}",
        "--cassandra-protocol-version",
        "1",
    ]
    run = [*argv, "--seconds", "0.5", "--read-seconds", "0.5", "--senders", "8", "--conversations", "3"]
    await asyncio.to_thread(main, [*run, "--store", "sqlite,cassandra", "--data-dir", str(tmp_path)])
    both = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["stores"]
    assert list(both) == ["sqlite", "cassandra"]
    assert_history_read(both["sqlite"])
    result = both["cassandra"]
    assert_history_read(result)
    assert result["store"] == "cassandra" and result["messages"] > 0 and result["commits"] > 0
    assert 0 < result["p50_ms"] <= result["p99_ms"]
    assert result["cpu_us_per_msg"] > 0
    assert result["server_cpu_us_per_msg"] == 0, "a cluster's servers are not this machine's to measure"
