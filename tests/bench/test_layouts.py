"""`hubbub bench layouts`: its table shows every layout's steps, CPU per message included."""

from __future__ import annotations

from bench.layouts import LAYOUTS, table
from deploy.single_node import process_groups


def test_every_layout_parses() -> None:
    assert [len(process_groups(layout)) for layout in LAYOUTS] == [0, 1, 2, 2, 2]


def test_the_table_has_a_row_per_step_with_cpu_per_message() -> None:
    ok = {"rate": 1000.0, "status": "ok", "p50_ms": 4.25, "p99_ms": 9.5, "server_cpu_pct": 40.0}
    ok |= {"server_cpu_us_per_msg": 401.4, "lost": 0}
    results = [{"layout": "edge", "steps": [ok, {"rate": 4000.0, "status": "not reached"}]}]
    rows = table(results).splitlines()[2:]
    assert rows == ["| `edge` | 1000 | 4.2 | 9.5 | 40 | 401 | 0 |", "| `edge` | 4000 | not reached | | | | |"]
