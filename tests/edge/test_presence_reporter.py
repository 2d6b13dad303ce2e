"""Presence reports: a snapshot first, then batched changes, and lease renewals."""

from __future__ import annotations

import asyncio

import pytest

from edge import EdgeService
from edge.presence_reporter import PresenceReporter
from kernel.grpc_server import insecure_channel, start_grpc_server
from presence import PresenceConfig, start_presence
from protos import client_pb2, presence_pb2, presence_pb2_grpc
from protos.router_pb2 import SessionRef
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


async def test_a_snapshot_too_large_for_one_message_goes_in_parts_and_presence_knows_everyone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An edge with more sessions than one gRPC message holds: the snapshot is cut by bytes
    (here a 2 KB budget stands in for 16 MiB); presence, sent the parts in order, ends up with
    every session online, and a later snapshot in parts still replaces what it knew."""
    monkeypatch.setattr("edge.presence_reporter.MAX_BATCH_BYTES", 2_000)
    refs = [SessionRef(user_id=f"user{i}", device_id="d1", session_id=i) for i in range(300)]
    live = list(refs)
    presence = await start_presence(PresenceConfig(debounce_ms=0))
    reporter = PresenceReporter(presence.target, "edge-big", 10_000, lambda: live)
    channel = insecure_channel(presence.target)
    stub = presence_pb2_grpc.PresenceStub(channel)
    query = presence_pb2.PresenceQuery(user_ids=[r.user_id for r in refs])

    async def online_after(parts: list[presence_pb2.EdgeReport]) -> set[str]:
        for part in parts:
            await stub.Report(part)
        snapshot = await stub.Query(query)
        return {u.user_id for u in snapshot.users if u.status == client_pb2.PRESENCE_STATUS_ONLINE}

    try:
        parts = reporter._next_reports()  # the first report after start is a snapshot
        assert len(parts) > 1 and parts[0].full_snapshot and not any(p.full_snapshot for p in parts[1:])
        assert all(p.ByteSize() <= 2_000 + 200 for p in parts)
        assert await online_after(parts) == {r.user_id for r in refs}

        del live[100:]  # sessions closed while presence was away: the next snapshot drops them
        reporter._need_snapshot = True
        again = reporter._next_reports()
        assert len(again) > 1
        assert await online_after(again) == {r.user_id for r in refs[:100]}
    finally:
        await channel.close()
        await presence.stop(0)
