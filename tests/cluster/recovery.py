"""The tail every fault test shares: wait until the traffic is served again after a fault
(every conversation acked since it, then more acks), stop the traffic, check what it left
(nothing acked lost, nothing stored twice, one order for every member) and print the figures
with the recovery goal beside them."""

from __future__ import annotations

from tests.cluster.conftest import SESSION_TIMEOUT_S
from tests.cluster.traffic import Traffic, check
from tests.e2e.wire_client import WireClient

LIMIT_S = 60.0
"""A hung recovery fails here; the goal below is reported, not asserted (contention)."""
GOAL_S = 2 * SESSION_TIMEOUT_S
"""Router failover goal: partitions served again within 2 x the ZooKeeper session timeout."""
AFTER_ACKS = 40
"""Acks taken after a recovery before the next step: the service goes on, not just once."""


async def served_again(traffic: Traffic, since: float, after_acks: int = AFTER_ACKS) -> float:
    """Seconds from `since` (the fault) until every conversation had an ack after it; returns
    once `after_acks` more acks came too."""
    seconds = await traffic.until_every_conversation_acks_after(since, LIMIT_S)
    await traffic.until_acks(after_acks, LIMIT_S)
    return seconds


async def goes_on_after(traffic: Traffic, healed_at: float) -> float:
    """After the fault is undone (a router thawed, a cut mended): once AFTER_ACKS more acks came,
    the seconds from `healed_at` until every conversation had a send begun after it acked."""
    await traffic.until_acks(AFTER_ACKS, LIMIT_S)
    return await traffic.until_every_conversation_acks_after(healed_at, LIMIT_S)


def against_goal(seconds: float) -> str:
    verdict = "meets" if seconds <= GOAL_S else "MISSES"
    return f"{seconds:.2f} s ({verdict} the goal of 2 x session = {GOAL_S:.0f} s)"


async def finish(traffic: Traffic, reader: WireClient, report: str) -> dict[str, int]:
    """Stop the traffic (every send in flight acked), check its history through `reader`,
    assert that no member saw a push after a later seq, and print `report` with the counts."""
    await traffic.stop()
    counts, disorder = await check(traffic, reader)
    print(f"\n{report}; {counts}; {len(disorder)} members saw late pushes")
    assert not disorder, disorder
    return counts
