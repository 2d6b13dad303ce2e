"""An edge killed -9 under steady traffic: its users find the other edge through discovery,
connect there with their tokens and go on sending; nothing acked is lost, nothing stored
twice, one order for every member; what they missed while away they get from history.
Prints the recovery time (-s)."""

from __future__ import annotations

import time

import pytest

from deploy.cluster.launcher import RunningCluster
from tests.cluster.conftest import SESSION_TIMEOUT_S, populate
from tests.cluster.recovery import LIMIT_S, finish
from tests.cluster.traffic import Traffic

pytestmark = pytest.mark.slow
ACKS = 40
AFTER_ACKS = 300  # long enough after the reconnects to see whether live pushes came back


async def test_an_edge_killed_under_traffic_its_users_reconnect_to_the_other_and_resume(
    cluster: RunningCluster,
) -> None:
    population = await populate(cluster)
    traffic = Traffic(population.members, population.conversations)
    victim = cluster.of_role("edge")[0]
    on_victim = [m for m in population.members if m.client.welcome.edge_id == victim.name]
    assert on_victim, "some members are on the edge to kill"
    try:
        traffic.start()
        await traffic.until_acks(ACKS, LIMIT_S)
        killed_at = time.monotonic()
        victim.server.kill()
        recovery = await traffic.until_every_member_acks_after(killed_at, LIMIT_S)
        await traffic.until_acks(AFTER_ACKS, LIMIT_S)
        await finish(
            traffic,
            population.members[-1].client,
            f"kill -9 {victim.name}: every member sending again (through discovery, on the other "
            f"edge) after {recovery:.2f} s (its registration lapses with its session, "
            f"{SESSION_TIMEOUT_S:.0f} s)",
        )
        assert all(m.reconnects >= 1 for m in on_victim), "they reconnected by themselves"
        assert all(m.client.welcome.edge_id != victim.name for m in population.members)
    finally:
        await population.close()
    # Nothing is lost (history has it all, asserted above); and a user online again gets
    # live pushes again, not only what a resume fetches.
    missed = {m.user_id: traffic.missed_live_after(m, m.reconnected_at) for m in on_victim}
    assert not any(missed.values()), f"live pushes missed after reconnecting: {missed}"
