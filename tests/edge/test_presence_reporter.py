"""Presence reports: a snapshot first, then batched changes, and lease renewals."""

from __future__ import annotations

import asyncio

from edge import EdgeService
from kernel.grpc_server import start_grpc_server
from protos import presence_pb2_grpc
from tests.edge.client import WsClient
from tests.edge.conftest import Backends
from tests.edge.fakes import FakePresence


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


async def test_after_presence_comes_back_the_first_report_is_a_full_snapshot(
    edge: EdgeService, backends: Backends
) -> None:
    client, welcome = await WsClient.authed(edge.ws_url, "alice")
    await backends.presence.next_change(online=True)
    port = backends.presence_server.port
    await backends.presence_server.stop(grace=0)
    second = FakePresence()  # type: ignore[abstract]
    restarted = await start_grpc_server(
        "fake-presence-2", lambda s: presence_pb2_grpc.add_PresenceServicer_to_server(second, s), port=port
    )
    try:
        async with asyncio.timeout(30):
            first = await second.reports.get()
        # Whatever was lost while presence was away, the snapshot restates it.
        assert first.full_snapshot
        assert [(c.user_id, c.session_id, c.online) for c in first.changes] == [
            ("alice", welcome.session_id, True)
        ]
        await client.close()
    finally:
        await restarted.stop(grace=0)
