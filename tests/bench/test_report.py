"""Suite output from a fixture results dict: the summary, the markdown report, the plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.plots import suite_plots
from bench.report import render
from bench.results import machine_info, summarize
from bench.steps import not_reached


def ran(rate: float, p99: float, delivered: float, **extra: Any) -> dict[str, Any]:
    return {
        "rate": rate, "status": "ok", "delivered_per_s": delivered, "p50_ms": p99 / 4, "p99_ms": p99,
        "p999_ms": p99 * 2, "max_ms": p99 * 3, "lost": 0, "duplicated": 0, "reordered": 0, "unacked": 0,
        "received": 100, "server_cpu_pct": 80.0, "generator_cpu_pct": 40.0,
        "server_cpu_us_per_msg": 150.0, "server_cpu_us_per_delivery": 75.5, **extra,
    }  # fmt: skip


def fixture_results() -> dict[str, Any]:
    workloads: dict[str, Any] = {
        "w1": {
            "users": 200, "seconds": 10.0, "capacity_msgs_per_s": 1000.0, "p99_ms_at_1000": 12.5,
            "steps": [ran(250, 3.0, 249.0), ran(1000, 12.5, 998.0), ran(4000, 2500.0, 2100.0),
                      not_reached(16000)],
        },
        "w1_json": {
            "users": 200, "seconds": 10.0, "capacity_msgs_per_s": 250.0, "p99_ms_at_1000": 120.0,
            "steps": [ran(250, 4.0, 249.0, server_cpu_us_per_msg=190.0), ran(1000, 120.0, 990.0)],
        },
        "baseline": {"capacity_msgs_per_s": 4000.0, "steps": [ran(250, 1.0, 250.0), ran(1000, 2.5, 1000.0),
                                                              ran(4000, 4.0, 4000.0)]},
        "w2": {
            "capacity_deliveries_per_s": 9900.0,
            "groups": {"g100": {"members": 100, "online": 100, "capacity_deliveries_per_s": 9900.0,
                                "capacity_sends_per_s": 100.0,
                                "steps": [ran(100, 40.0, 9800.0, offered_deliveries_per_s=9900.0)]}},
        },
        "w2_json": {
            "capacity_deliveries_per_s": 4950.0,
            "groups": {"g100": {"members": 100, "online": 100, "capacity_deliveries_per_s": 4950.0,
                                "capacity_sends_per_s": 50.0,
                                "steps": [ran(50, 30.0, 4950.0, offered_deliveries_per_s=4950.0,
                                              generator_cpu_us_per_delivery=6.5)]}},
        },
        "w3": {"connections": 10_000, "connected": 10_000, "kib_per_conn": 7.5, "connects_per_s": 900.0,
               "server_cpu_s": 5.0},
        "w4": {"clients": 2000, "catchup_s": 3.25, "caught_up": 2000, "messages_per_conversation": 50,
               "server_cpu_s": 10.0},
    }  # fmt: skip
    samples = [
        {"t_s": 0.25 * k, "server_cpu_pct": 50.0, "server_rss_mib": 60.0 + k, "generator_cpu_pct": 30.0,
         "label": "w1 250/s" if k < 4 else "w2 g100 100/s"}
        for k in range(8)
    ]  # fmt: skip
    return {
        "started_at": "2026-11-22T08:00:00+00:00",
        "quick": False,
        "notes": ["taken on a shared machine"],
        "machine": machine_info(),
        "hubbub_config": {"store": "sqlite"},
        "workloads": workloads,
        "resources": samples,
        "errors": {},
        "summary": summarize(workloads),
    }


def test_the_summary_holds_the_headline_figures_and_baseline_ratios() -> None:
    summary = fixture_results()["summary"]
    assert summary["w1_capacity_msgs_per_s"] == 1000.0
    assert summary["w1_p99_ms_at_1000"] == 12.5
    assert summary["w2_capacity_deliveries_per_s"] == 9900.0
    assert summary["w2_json_capacity_deliveries_per_s"] == 4950.0
    assert summary["w1_json_capacity_msgs_per_s"] == 250.0
    assert summary["w1_json_p99_ms_at_1000"] == 120.0
    assert summary["w3_kib_per_conn"] == 7.5
    assert summary["w4_catchup_s"] == 3.25
    assert summary["w1_capacity_vs_baseline"] == 0.25
    assert summary["w1_p99_at_1000_vs_baseline"] == 5.0


def test_the_summary_gives_the_servers_cpu_behind_each_figure() -> None:
    cpu = fixture_results()["summary"]["server_cpu_us"]
    assert cpu["w1_capacity_msgs_per_s"] == {"per_msg": 150.0, "per_delivery": 75.5}  # the 1,000/s step
    assert cpu["w1_json_capacity_msgs_per_s"] == {"per_msg": 190.0, "per_delivery": 75.5}  # 250/s
    assert cpu["w2_capacity_deliveries_per_s"] == {"per_msg": 150.0, "per_delivery": 75.5}
    assert cpu["w2_g500_capacity_deliveries_per_s"] is None  # not run
    assert cpu["w2_json_capacity_deliveries_per_s"] == {"per_msg": 150.0, "per_delivery": 75.5}
    assert cpu["w3_kib_per_conn"] == {"per_connection": 500.0}  # 5 s over 10,000 connections
    assert cpu["w4_catchup_s"] == {"per_delivery": 100.0}  # 10 s over 2,000 x 50 messages


def test_a_missing_workload_leaves_its_figures_empty() -> None:
    summary = summarize({})
    assert summary["w1_capacity_msgs_per_s"] is None
    assert summary["w1_capacity_vs_baseline"] is None


def test_machine_info_names_cores_python_and_package_versions() -> None:
    machine = machine_info()
    assert machine["logical_cores"] >= 1
    assert {"grpcio", "protobuf", "websockets", "uvloop"} <= machine["packages"].keys()


def test_the_report_has_verdicts_tables_ratios_and_notes() -> None:
    text = render(fixture_results(), ["w1_latency.png"])
    goal = ">= 32,000 msgs/s at p99 < 100 ms, binary"
    assert f"| w1_capacity_msgs_per_s | 1,000 | {goal} | not met | 150 | 75.5 |" in text
    assert "| w1_json_p99_ms_at_1000 | 120 | < 3 ms | not met | 150 | 75.5 |" in text
    assert "| w4_catchup_s | 3.25 | <= 2.1 s (no regression) | not met | — | 100 |" in text
    assert "| w3_kib_per_conn | 7.50 | <= 8 KiB at 100,000 connections | met at 10,000 connections" in text
    assert "## W1 one-to-one, JSON subprotocol" in text
    assert "> taken on a shared machine" in text
    w1_row = next(line for line in text.splitlines() if line.startswith("| 1,000 |"))
    assert w1_row.endswith("| 1,000 | 2.50 | 1.00 | 5 |")  # the baseline's figures, then the ratios
    assert "| 16,000 | not reached |" in text
    assert "### g100: 100 members, 100 online" in text
    assert "## W2 group fan-out, JSON subprotocol" in text
    json_row = next(line for line in text.splitlines() if line.startswith("| 50 | 4,950 |"))
    assert json_row.endswith("| 40 | 6.50 |")  # the generator's CPU % and µs per delivery
    assert "| w2_json_capacity_deliveries_per_s | 4,950 | >= 300,000 at p99 < 100 ms (g100, JSON) |" in text
    assert "![w1_latency.png](w1_latency.png)" in text


def test_a_failed_workload_is_named_in_the_report() -> None:
    results = {**fixture_results(), "errors": {"w3": "OSError: too many open files"}}
    assert "**w3 failed:** `OSError: too many open files`" in render(results)


def test_plots_are_written_as_png(tmp_path: Path) -> None:
    names = suite_plots(tmp_path, fixture_results())
    assert names == ["w1_latency.png", "w2_latency.png", "resources.png"]
    for name in names:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
