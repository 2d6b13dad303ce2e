"""`hubbub bench metrics` prints what the metrics of one message cost, with and without."""

from __future__ import annotations

import json

import pytest

from bench.cli import main


def test_it_prints_cpu_per_message_with_and_without(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["metrics", "--messages", "2000"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["messages"] == 2000
    assert result["cpu_us_per_message_with_metrics"] > result["cpu_us_per_message_without"] >= 0
    assert result["metrics_cpu_us_per_message"] > 0
