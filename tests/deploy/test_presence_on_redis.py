"""`presence_backend = redis` through the node's own wiring: two presence services (two
processes of a cluster) over one Redis; an edge reports to one, a watcher of the other sees
the change once, and a query of either agrees."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from deploy.config import NodeConfig
from deploy.services import StartedService, start_service
from kernel.clock import SystemClock
from kernel.errors import InvalidArgument
from kernel.grpc_server import insecure_channel
from kernel.redis_keys import PresenceKeys
from presence import WATCH_READY_KEY, EdgeReport, PresenceConfig, RedisPresence, SessionChange
from protos import client_pb2, presence_pb2, presence_pb2_grpc
from tests.redis_servers import REDIS_SETUPS, redis_target


@pytest.mark.parametrize("setup", REDIS_SETUPS)
async def test_two_presence_services_share_state_through_redis(
    request: pytest.FixtureRequest, setup: str, tmp_path: Path
) -> None:
    target = redis_target(request, setup)
    config = NodeConfig(
        data_dir=tmp_path,
        presence_backend="redis",
        redis_url=target.url,
        redis_cluster=target.cluster,
        redis_namespace=target.namespace,
    )
    services: list[StartedService] = []
    try:
        for _ in range(2):
            services.append(await start_service("presence", config, "", {}, SystemClock(), None))
        first, second = (insecure_channel(s.addresses["presence_target"]) for s in services)
        watch = presence_pb2_grpc.PresenceStub(second).Watch(presence_pb2.WatchRequest())
        async with asyncio.timeout(30):
            metadata = await watch.initial_metadata()
            assert metadata is not None and metadata.get(WATCH_READY_KEY) == "1"
            change = presence_pb2.SessionChange(user_id="ann", device_id="d1", session_id=1, online=True)
            await presence_pb2_grpc.PresenceStub(first).Report(
                presence_pb2.EdgeReport(edge_id="e1", lease_ms=30_000, changes=[change])
            )
            snapshot = await anext(aiter(watch))
        assert [(u.user_id, u.status) for u in snapshot.users] == [("ann", client_pb2.PRESENCE_STATUS_ONLINE)]
        answer = await presence_pb2_grpc.PresenceStub(second).Query(
            presence_pb2.PresenceQuery(user_ids=["ann"])
        )
        assert [u.status for u in answer.users] == [client_pb2.PRESENCE_STATUS_ONLINE]
        watch.cancel()
        await first.close()
        await second.close()
    finally:
        for service in services:
            await service.stop()


def test_an_unknown_presence_backend_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="backend"):
        PresenceConfig(backend="etcd")


async def test_a_lease_taken_through_another_process_still_expires(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The edge reported through a peer process (which then went away): this service's expiry
    timer never heard of that lease, yet its watcher sees the user go offline."""
    target = redis_target(request, "redis-standalone")
    config = NodeConfig(
        data_dir=tmp_path,
        presence_backend="redis",
        presence_debounce_ms=0,
        redis_url=target.url,
        redis_namespace=target.namespace,
    )
    service = await start_service("presence", config, "", {}, SystemClock(), None)
    channel = insecure_channel(service.addresses["presence_target"])
    peer = RedisPresence.connect(
        target.url, SystemClock(), debounce_ms=0, keys=PresenceKeys(target.namespace)
    )
    try:
        watch = presence_pb2_grpc.PresenceStub(channel).Watch(presence_pb2.WatchRequest())
        async with asyncio.timeout(30):
            await watch.initial_metadata()
            change = SessionChange("ann", "d1", 1, True)
            await peer.report(EdgeReport(edge_id="e1", lease_ms=300, changes=(change,)))
            await peer.close()  # the peer is gone; nobody renews e1
            statuses = [[u.status for u in (await anext(aiter(watch))).users] for _ in range(2)]
        assert statuses == [[client_pb2.PRESENCE_STATUS_ONLINE], [client_pb2.PRESENCE_STATUS_OFFLINE]]
        watch.cancel()
    finally:
        await peer.close()
        await channel.close()
        await service.stop()
