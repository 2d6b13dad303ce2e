"""A cluster start is bounded as a whole (deploy/cluster/launcher.py StartSteps): each step
gets what is left of start_timeout_s, and a failure names its step and what the earlier
steps took, so a slow start ends in a clear error, never a hang."""

from __future__ import annotations

import pytest

from deploy.cluster.launcher import StartSteps, describe_split
from deploy.local_servers.process import ServerStartError
from kernel.ownership import Owner, PartitionMap


def test_a_failed_step_is_named_with_the_steps_before_it() -> None:
    steps = StartSteps(300)
    with steps.step("redis"):
        pass
    with pytest.raises(ServerStartError) as caught, steps.step("routers"):
        raise ServerStartError("router-1 was not ready within 90 s")
    message = str(caught.value)
    assert message.startswith("routers failed after ")
    assert "steps done: redis " in message and "router-1 was not ready" in message
    assert list(steps.took) == ["redis"]


def test_no_step_starts_past_the_deadline_and_budgets_shrink_to_it() -> None:
    assert StartSteps(300).budget(90) == 90
    assert StartSteps(5).budget(90) <= 5
    late = StartSteps(0)
    with pytest.raises(ServerStartError, match="did not start in 0 s"), late.step("edges and discovery"):
        raise AssertionError("a step past the deadline must not run")


def test_a_split_that_never_ends_is_described() -> None:
    a, b = Owner("router-1", "h:1", 1), Owner("router-2", "h:2", 1)
    current = PartitionMap(4, 9, (a, a, a, None))
    assert describe_split(current, ["router-1", "router-2"]) == "router-1 3, router-2 0; unowned [3]"
    assert describe_split(PartitionMap(2, 9, (b, None)), ["router-1"]).endswith("other owners ['router-2']")
    assert describe_split(None, ["router-1"]) == "none"
