"""Presence reports: a snapshot first, then batched changes, and lease renewals."""

from __future__ import annotations

import asyncio

from edge import EdgeService
from tests.edge.client import WsClient
from tests.edge.conftest import Backends


async def test_snapshot_first_then_changes_then_renewals(edge: EdgeService, backends: Backends) -> None:
    reports = backends.presence.reports
    async with asyncio.timeout(30):
        first = await reports.get()
    assert first.full_snapshot and first.edge_id == "edge-test" and first.lease_ms == 3_000
    client, welcome = await WsClient.authed(edge.ws_url, "alice")
    change = await backends.presence.next_change(online=True)
    assert (change.user_id, change.device_id, change.session_id) == ("alice", "alice-dev", welcome.session_id)
    async with asyncio.timeout(30):  # nothing changes: an empty report renews the lease
        while (await reports.get()).changes:
            pass
    await client.close()
    assert (await backends.presence.next_change(online=False)).session_id == welcome.session_id
