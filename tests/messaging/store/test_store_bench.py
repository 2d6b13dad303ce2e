"""Smoke test of bench/store_bench.py: a short run prints one JSON line with the figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.store_bench import main


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


def test_store_bench_rejects_bad_arguments() -> None:
    with pytest.raises(SystemExit):
        main(["--senders", "0"])
