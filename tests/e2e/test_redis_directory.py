"""The Redis connection registry end to end: messaging, presence and a router in this process
(presence and directory on real Redis), two edges writing their own sessions to the registry
under their leases. Edge-2 reaches the router through a proxy the test can cut, so its link can
end while the edge lives. Waits are for what a user would see (a frame, a push, the registry
changing), polled with a deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from deploy.config import NodeConfig, with_secrets
from deploy.local_servers.redis import RedisNode
from deploy.room_configs import edge_config
from deploy.services import Addresses, InProcess, Stop, start_service
from edge import EdgeService, start_edge
from kernel.clock import SystemClock
from kernel.errors import Unavailable
from kernel.redis_keys import DirectoryKeys
from protos import client_pb2 as pb
from router import MemoryPushNotifier
from router.redis_directory import RedisDirectory
from tests.cuttable_proxy import CuttableProxy
from tests.e2e.conftest import config_for_tests
from tests.e2e.test_one_to_one import open_direct
from tests.e2e.wire_client import WireClient
from tests.redis_servers import REDIS_SETUPS, RedisTarget, redis_target
from tests.stuck_tasks import bounded

LEASE_MS = 3_000
"""Short, so a dead edge lapses within the test; not shorter: every service of the test shares
one event loop, and on a loaded machine a renewal (every second) late by two seconds let a
live edge's lease lapse and its users drop out of the registry until it restated (at 900 ms,
bob vanished right after his edge's writer settled, or missed a live push after the cut)."""
WAIT_S = 20.0
TEST_BOUND_S = 75.0
TEARDOWN_BOUND_S = 20.0
"""Bounds on the restart test's scenario and its teardown (below pytest's 120 s): a hang fails
with where every task was waiting (tests/stuck_tasks.py)."""


async def until(what: str, condition: Callable[[], Awaitable[bool]]) -> None:
    """Wait for `condition`, a change of the registry in Redis (which offers no event to wait
    on), checking every 20 ms and failing after WAIT_S; nothing asserts how long it took."""
    try:
        async with asyncio.timeout(WAIT_S):
            while not await condition():  # noqa: ASYNC110 - Redis state has no event to await
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@dataclass
class Deployment:
    config: NodeConfig
    push: MemoryPushNotifier
    registry: RedisDirectory  # the test's own reader of the shared registry
    proxy: CuttableProxy  # edge-2's way to the router
    edges: dict[str, EdgeService] = field(default_factory=dict)
    stops: list[Stop] = field(default_factory=list)

    async def users_on(self, user_id: str) -> set[str]:
        """The edges the registry places `user_id` on."""
        return set((await self.registry.lookup([user_id])).get(user_id, {}))


async def deploy(tmp_path: Path, target: RedisTarget) -> Deployment:
    config = with_secrets(
        config_for_tests(
            tmp_path,
            directory_backend="redis",
            presence_backend="redis",
            redis_url=target.url,
            redis_cluster=target.cluster,
            redis_namespace=target.namespace,
            directory_lease_ms=LEASE_MS,
            routers=1,
        )
    )
    clock = SystemClock()
    push = MemoryPushNotifier()
    registry = RedisDirectory.connect(
        target.url, cluster=target.cluster, keys=DirectoryKeys(target.namespace)
    )
    upstream: Addresses = {}
    here = InProcess()
    stops: list[Stop] = []
    for name in ("messaging", "presence", "router"):
        started = await start_service(name, config, config.token_secret, upstream, clock, push, here)
        upstream.update(started.addresses)
        stops.append(started.stop)
    host, port = upstream["router_target"].rsplit(":", 1)
    proxy = CuttableProxy([(host, int(port))])
    deployment = Deployment(config, push, registry, proxy, stops=stops)
    writer_registry = RedisDirectory.connect(
        target.url, cluster=target.cluster, keys=DirectoryKeys(target.namespace)
    )
    stops.append(writer_registry.close)
    base = edge_config(config, config.token_secret, upstream)
    for edge_id, router in (("edge-1", upstream["router_target"]), ("edge-2", proxy.address)):
        edge = await start_edge(
            replace(
                base,
                edge_id=edge_id,
                ws_port=0,
                grpc_port=0,
                router_targets=(router,),
                watch_partitions=False,
            ),
            clock=clock,
            session_registry=writer_registry,
        )
        deployment.edges[edge_id] = edge
        stops.append(edge.stop)
    return deployment


@pytest.fixture(params=REDIS_SETUPS)
async def deployed(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Deployment]:
    """On a standalone server and on a 3-master Redis Cluster."""
    running = await deploy(tmp_path, redis_target(request, request.param))
    yield running
    await teardown(running)


async def teardown(running: Deployment) -> None:
    for stop in reversed(running.stops):
        await stop()
    running.proxy.close()
    await running.registry.close()


async def alice_and_bob(deployment: Deployment) -> tuple[WireClient, WireClient, int]:
    """alice on edge-1, bob on edge-2, their direct conversation, both placed in the registry."""
    alice = await WireClient.sign_up(deployment.edges["edge-1"].ws_url, "alice")
    bob = await WireClient.sign_up(deployment.edges["edge-2"].ws_url, "bob")
    for client in (alice, bob):
        client.keep_alive()
    conv = await open_direct(alice, "bob")
    assert await open_direct(bob, "alice") == conv  # answered through edge-2's link: it is up
    for edge in deployment.edges.values():  # each edge's writer has written its sessions
        assert edge.directory_writer is not None
        async with asyncio.timeout(WAIT_S):  # a writer that never settles fails here, not at 120 s
            await edge.directory_writer.settled()
    assert await deployment.users_on("bob") == {"edge-2"}
    return alice, bob, conv


async def _placed(deployment: Deployment, user_id: str, edges: set[str]) -> bool:
    try:
        return await deployment.users_on(user_id) == edges
    except Unavailable:  # our own reader, just after a Redis restart: ask again
        return False


async def acked(client: WireClient, conv: int, body: str, client_msg_id: str) -> pb.ServerFrame:
    """A send retried as a client does (the same client_msg_id) until it is acked. While the
    proxy refuses edge-2's reconnects, a send queued there may fail three writes and come back
    UNAVAILABLE (retry); sent without retrying, the test went on while edge-2 was still
    unlinked, and the next message went to push instead of reaching bob live."""
    async with asyncio.timeout(WAIT_S):
        while True:
            reply = await client.send_text(conv, body, client_msg_id)
            if reply.WhichOneof("kind") == "sent":
                return reply
            assert reply.error.retryable, reply
            await asyncio.sleep(0.1)  # a client's pause before its retry, not a wait for an event


async def test_edges_write_the_registry_and_messages_cross_edges(deployed: Deployment) -> None:
    alice, bob, conv = await alice_and_bob(deployed)
    assert await deployed.users_on("alice") == {"edge-1"}
    acks = [await alice.send_text(conv, f"hi {i}", f"a-{i}") for i in range(5)]
    assert [m.seq for m in await bob.messages(5, conv)] == [a.sent.seq for a in acks]
    await bob.close()
    await until("bob gone from the registry", lambda: _placed(deployed, "bob", set()))
    await alice.close()


async def test_a_dropped_link_keeps_the_edges_users_and_a_dead_edge_loses_them_to_its_lease(
    deployed: Deployment,
) -> None:
    alice, bob, conv = await alice_and_bob(deployed)
    deployed.proxy.cut()  # edge-2's link to the router ends; edge-2 and bob carry on
    gap = await alice.send_text(conv, "while the link is down", "a-cut")
    assert await deployed.users_on("bob") == {"edge-2"}, "one link drop never clears an edge"
    deployed.proxy.mend()
    back = await acked(bob, conv, "back", "b-back")  # acked once edge-2 is linked again
    after = await alice.send_text(conv, "after", "a-after")
    while (await bob.messages(1, conv))[0].seq != after.sent.seq:  # live delivery again
        pass
    assert await deployed.users_on("bob") == {"edge-2"}
    # What the gap kept from bob's screen, resume brings: nothing acked is lost.
    resumed = await bob.request(
        pb.ClientFrame(resume=pb.Resume(cursors=[pb.ConversationCursor(conversation_id=conv)]))
    )
    assert resumed.WhichOneof("kind") == "history", resumed.error
    assert [m.seq for m in resumed.history.messages] == [gap.sent.seq, back.sent.seq, after.sent.seq]

    # Edge-2 dies as far as the registry knows: its writer stops without a farewell.
    writer = deployed.edges["edge-2"].directory_writer
    assert writer is not None
    await writer.stop(farewell=False)
    await until("bob's sessions to lapse with edge-2's lease", lambda: _placed(deployed, "bob", set()))
    # A fresh conversation: pushes collapse per (user, conversation), and the gap above may
    # have pushed one for the direct chat already.
    made = await alice.request(pb.ClientFrame(create_group=pb.CreateGroup(title="g", member_ids=["bob"])))
    assert made.WhichOneof("kind") == "conversation", made
    group = made.conversation.conversation_id
    pushed = len(deployed.push.notifications)
    ack = await alice.send_text(group, "are you there?", "a-push")
    async with asyncio.timeout(WAIT_S):
        notes = await deployed.push.wait_for(pushed + 1)
    assert [(n.user_id, n.conversation_id, n.seq) for n in notes[pushed:]] == [("bob", group, ack.sent.seq)]
    assert await deployed.users_on("alice") == {"edge-1"}, "a live edge keeps its users"
    for client in (alice, bob):
        await client.close()


@pytest.mark.slow
async def test_after_a_redis_restart_edges_restate_and_nothing_acked_is_lost(
    request: pytest.FixtureRequest, tmp_path: Path, redis_restartable: RedisNode
) -> None:
    target = RedisTarget(redis_restartable.url, False, "restart")
    running = await deploy(tmp_path, target)
    try:
        async with bounded(TEST_BOUND_S, "the restart scenario"):
            await restart_scenario(running, redis_restartable)
    finally:
        async with bounded(TEARDOWN_BOUND_S, "the teardown after a Redis restart"):
            await teardown(running)


async def restart_scenario(running: Deployment, redis_restartable: RedisNode) -> None:
    alice, bob, conv = await alice_and_bob(running)
    before = [await alice.send_text(conv, f"before {i}", f"b-{i}") for i in range(3)]
    await bob.messages(3, conv)
    # Comes back empty. In a thread: the services here share this event loop and go on
    # meanwhile, as they would beside a real restart (not frozen for its length).
    await asyncio.to_thread(redis_restartable.restart)
    await until("edges to restate after the restart", lambda: _placed(running, "bob", {"edge-2"}))
    after = [await alice.send_text(conv, f"after {i}", f"c-{i}") for i in range(3)]
    assert [m.seq for m in await bob.messages(3, conv)] == [a.sent.seq for a in after]
    # Resume from nothing: every acked message is there, once, in order.
    again = await WireClient.with_token(running.edges["edge-1"].ws_url, bob.welcome.token, "bob-tablet")
    cursor = pb.ConversationCursor(conversation_id=conv)
    reply = await again.request(pb.ClientFrame(resume=pb.Resume(cursors=[cursor])))
    assert reply.WhichOneof("kind") == "history", reply.error
    assert [m.seq for m in reply.history.messages] == [a.sent.seq for a in (*before, *after)]
    for client in (alice, bob, again):
        await client.close()
