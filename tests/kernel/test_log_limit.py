"""A repeated warning is written once per interval and then says how many it stood for."""

from __future__ import annotations

import logging

import pytest

from kernel.log_limit import LogAtMostEvery


def test_a_flood_of_warnings_writes_one_line_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0]
    limited = LogAtMostEvery(logging.getLogger("t"), 10_000, lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="t"):
        written = [limited.warning("no members for %d", i) for i in range(1000)]
        now[0] = 10_000
        limited.warning("no members for %d", 1000)
    assert written.count(True) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "no members for 0",
        "no members for 1000 (and 999 more like it since the last such line)",
    ]
