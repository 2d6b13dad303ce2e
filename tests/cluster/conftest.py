"""A cluster of processes per fault test (deploy/cluster/launcher.py, as `hubbub cluster up`
starts it) with a short ZooKeeper session, its members signed up over both edges and sharing
groups whose partitions both routers own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from deploy.cluster.config import ClusterConfig
from deploy.cluster.launcher import Placement, RunningCluster, in_place, start_cluster
from deploy.local_servers.zookeeper import ZooKeeperEnsemble
from discovery.zk_ownership import ZkOwnership
from discovery.zk_paths import ZooKeeperSettings
from kernel.partitions import partition_of
from protos import client_pb2 as pb
from protos import discovery_pb2, discovery_pb2_grpc
from tests.cluster.traffic import EdgeChooser, Member
from tests.e2e.cluster_layout import ROLE_ENV
from tests.e2e.wire_client import WireClient

SESSION_TIMEOUT_S = 4.0
PARTITIONS = 16
USERS = 4
GROUPS_PER_ROUTER = 2
MAX_GROUPS = 24


def fault_config(tmp_path: Path) -> ClusterConfig:
    return ClusterConfig(
        edges=2,
        routers=2,
        data_dir=tmp_path / "cluster",
        partitions=PARTITIONS,
        redis=True,  # presence and the connection registry in Redis, as `hubbub cluster up` runs
        session_timeout_s=SESSION_TIMEOUT_S,
    )


async def start(
    config: ClusterConfig, zookeeper_hosts: str | None, place: Placement = in_place
) -> RunningCluster:
    root = f"/faults-{uuid.uuid4().hex[:12]}"
    return await asyncio.to_thread(
        start_cluster,
        config,
        zookeeper_hosts=zookeeper_hosts,
        zookeeper_root=root,
        role_env=ROLE_ENV,
        place=place,
    )


@pytest.fixture
async def cluster(tmp_path: Path, zookeeper: ZooKeeperEnsemble) -> AsyncIterator[RunningCluster]:
    """On the suite's ensemble (tests that kill ZooKeeper nodes start their own)."""
    running = await start(fault_config(tmp_path), zookeeper.hosts)
    try:
        yield running
    finally:
        await asyncio.to_thread(running.stop)


@dataclass
class Population:
    members: list[Member]
    conversations: list[int]
    owners: dict[int, str]
    """Each conversation's owner router when the traffic started."""

    async def close(self) -> None:
        for member in self.members:
            await member.stop_reading()
            await member.client.close()


def settings_of(cluster: RunningCluster) -> ZooKeeperSettings:
    return ZooKeeperSettings(hosts=cluster.zookeeper_hosts, root=cluster.zookeeper_root)


def through_discovery(cluster: RunningCluster) -> EdgeChooser:
    """A client's way back in: AssignEdge (sticky to the previous edge while it is healthy)."""

    async def choose(user_id: str, device_id: str, previous_edge_id: str) -> str:
        async with grpc.aio.insecure_channel(cluster.discovery_target) as channel:
            request = discovery_pb2.AssignEdgeRequest(
                user_id=user_id, device_id=device_id, previous_edge_id=previous_edge_id
            )
            reply = await discovery_pb2_grpc.DiscoveryStub(channel).AssignEdge(request, timeout=5)
        return str(reply.edge.ws_url)

    return choose


async def populate(cluster: RunningCluster) -> Population:
    """USERS members, alternating edges (they find an edge again through discovery); groups
    of all of them until each router owns GROUPS_PER_ROUTER of them."""
    urls = cluster.ws_urls
    members = []
    for i in range(USERS):
        user = f"user-{i + 1}"
        client = await WireClient.sign_up(urls[i % len(urls)], user, device_id=f"{user}-phone")
        client.keep_alive(2.0)
        members.append(Member(user, client, through_discovery(cluster)))
    observer = await ZkOwnership.connect(settings_of(cluster), PARTITIONS)
    try:
        current = await observer.current()
    finally:
        await observer.close()
    chosen: dict[int, str] = {}
    routers = [p.name for p in cluster.of_role("router")]
    for n in range(MAX_GROUPS):
        reply = await members[0].client.request(
            pb.ClientFrame(
                create_group=pb.CreateGroup(title=f"g{n}", member_ids=[m.user_id for m in members[1:]])
            )
        )
        assert reply.WhichOneof("kind") == "conversation", reply
        conversation = reply.conversation.conversation_id
        owner = current.owner(partition_of(conversation, PARTITIONS))
        assert owner is not None
        if list(chosen.values()).count(owner.router_id) < GROUPS_PER_ROUTER:
            chosen[conversation] = owner.router_id
        if all(list(chosen.values()).count(r) == GROUPS_PER_ROUTER for r in routers):
            break
    assert len(chosen) == GROUPS_PER_ROUTER * len(routers), f"groups on {chosen}"
    return Population(members, list(chosen), chosen)
