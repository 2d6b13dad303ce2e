"""Stepping rules: saturation stops the steps, capacity is the highest clean step, and memory
per connection is plain arithmetic on two RSS readings."""

from __future__ import annotations

from typing import Any

import pytest

from bench.stepped import run_steps
from bench.steps import (
    capacity,
    cpu_per_message,
    is_saturated,
    kib_per_connection,
    meets_capacity,
    not_reached,
    ratio,
    step_at,
)


def step(
    rate: float, p99: float = 5.0, lost: int = 0, received: int = 100, expected: int = 100
) -> dict[str, Any]:
    return {
        "rate": rate, "status": "ok", "p99_ms": p99, "lost": lost, "unacked": 0, "received": received,
        "expected_deliveries": expected, "delivered_per_s": float(received), "p50_ms": 1.0,
    }  # fmt: skip


def test_a_step_is_saturated_when_far_less_is_delivered_or_p99_passes_a_second() -> None:
    assert not is_saturated(step(1000, p99=900.0, received=80, expected=100))
    assert is_saturated(step(1000, received=79, expected=100))
    assert is_saturated(step(1000, p99=1000.5))
    assert not is_saturated(not_reached(2000))


def test_capacity_is_the_highest_step_with_p99_under_100_ms_and_nothing_lost() -> None:
    steps = [
        step(250),
        step(500),
        step(1000, lost=1),
        step(2000, p99=99.9),
        step(4000, p99=100.0),
        not_reached(8000),
    ]
    assert capacity(steps) == 2000.0  # 1000 lost a message but 2000 did not: each step stands alone
    assert not meets_capacity(step(4000, p99=100.0))
    assert not meets_capacity({**step(500), "unacked": 3})
    assert not meets_capacity(not_reached(500))
    assert capacity([step(250, lost=2)]) == 0.0
    assert (
        capacity([{**step(50), "offered_deliveries_per_s": 4950.0}], key="offered_deliveries_per_s") == 4950.0
    )


def test_step_at_finds_only_steps_that_ran() -> None:
    steps = [step(500), not_reached(1000)]
    assert step_at(steps, 500.0) is steps[0]
    assert step_at(steps, 1000.0) is None


def test_memory_per_connection_is_the_rss_growth_divided_by_the_connections() -> None:
    assert kib_per_connection(100 * 2**20, 100 * 2**20 + 10_000 * 12 * 1024, 10_000) == 12.0
    assert kib_per_connection(50 * 2**20, 50 * 2**20 + 3 * 1024 + 512, 1) == 3.5
    assert kib_per_connection(1, 2, 0) == 0.0


def test_ratio_against_the_baseline() -> None:
    assert ratio(8000.0, 16000.0) == 0.5
    assert ratio(None, 1.0) is None
    assert ratio(1.0, 0.0) is None


class FakeEngine:
    """Answers steps from a table, and remembers which rates were asked for."""

    def __init__(self, results: dict[float, dict[str, Any]]) -> None:
        self.results = results
        self.asked: list[float] = []

    def step(self, rate: float, seconds: float, drain_s: float) -> dict[str, Any]:
        self.asked.append(rate)
        return self.results[rate]


def test_stepping_stops_after_a_saturated_step_and_records_the_rest_as_not_reached(
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = FakeEngine({250: step(250), 500: step(500, p99=1500.0), 1000: step(1000)})
    steps = run_steps(engine, [250, 500, 1000], 1.0, 1.0)  # type: ignore[arg-type]
    assert engine.asked == [250, 500]
    assert steps[2] == {"rate": 1000, "status": "not reached"}
    assert "500/s" in capsys.readouterr().err


def test_cpu_per_message_is_the_steps_cpu_over_its_messages() -> None:
    step = {"server_cpu_s": 1.5, "generator_cpu_s": 0.6, "sent": 3000, "received": 6000}
    assert cpu_per_message(step) == {
        "server_cpu_us_per_msg": 500.0,
        "server_cpu_us_per_delivery": 250.0,
        "generator_cpu_us_per_msg": 200.0,
        "generator_cpu_us_per_delivery": 100.0,
    }
    assert set(cpu_per_message({"server_cpu_s": 1.0}).values()) == {0.0}
