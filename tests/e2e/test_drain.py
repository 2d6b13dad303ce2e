"""Drain on a node of two edges: `hubbub admin drain edge-1` moves its clients to edge-2 while
messages flow, and each member gets every message once, in order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploy.single_node import SingleNode, start_single_node
from discovery import admin_cli
from kernel.grpc_server import internal_channel
from protos import client_pb2 as pb
from protos import discovery_pb2, discovery_pb2_grpc
from sdk.client import ChatClient, ClientOptions
from sdk.connection import Credentials
from sdk.events import ConnectionChanged, ConnectionState, Event
from sdk.transport import TransportKind
from tests.e2e.conftest import config_for_tests
from tests.e2e.wire_client import WireClient

TIMEOUT_S = 60.0
PASSWORD = "correct horse battery"


@pytest.fixture
async def two_edges(tmp_path: Path) -> AsyncIterator[SingleNode]:
    config = config_for_tests(tmp_path, edges=2, drain_period_ms=300, drain_close_after_ms=10_000)
    running = await start_single_node(config)
    try:
        yield running
    finally:
        await running.stop()


async def admin(node: SingleNode, *command: str) -> str:
    """`hubbub admin ...` against the node, with the secret from its data dir."""
    argv = ["--target", node.discovery_target, "--data-dir", str(node.data_dir), *command]
    return await admin_cli.run(admin_cli.build_parser("hubbub admin").parse_args(argv))


class Recorder:
    """Every event a client emits, kept in order, with a wake for whoever waits on them."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self.client.events():
            self.events.append(event)
            self._changed.set()

    def messages(self) -> list[pb.Message]:
        return [e for e in self.events if isinstance(e, pb.Message)]

    def resumed_after_a_drop(self) -> bool:
        states = [e.state for e in self.events if isinstance(e, ConnectionChanged)]
        return ConnectionState.DISCONNECTED in states and states[-1] is ConnectionState.RESUMED

    async def wait_until(self, condition: object) -> None:
        assert callable(condition)
        async with asyncio.timeout(TIMEOUT_S):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    async def stop(self) -> None:
        await self.client.close()
        await self._task


async def sign_up(node: SingleNode, edge: int, user: str, transport: TransportKind) -> ChatClient:
    targets = node.gateway_targets if transport == "grpc" else node.ws_urls
    return await ChatClient.connect(
        targets[edge],
        device_id=f"{user}-phone",
        sign_up=Credentials(user, PASSWORD),
        transport=transport,
        options=ClientOptions(discovery=node.discovery_target),
    )


async def edge_through_discovery(node: SingleNode, user: str) -> str:
    """The edge a new user's client lands on when it is given only discovery's address."""
    options = ClientOptions(discovery=node.discovery_target)
    client = await ChatClient.connect("", device_id="d", sign_up=Credentials(user, PASSWORD), options=options)
    assert client.welcome is not None
    await client.close()
    return client.welcome.edge_id


@pytest.mark.parametrize("transport", ["ws", "grpc"])
async def test_a_drained_edge_moves_its_clients_and_nothing_is_lost_or_doubled(
    two_edges: SingleNode, transport: TransportKind
) -> None:
    node = two_edges
    alice = Recorder(await sign_up(node, 0, "alice", transport))
    bob = Recorder(await sign_up(node, 0, "bob", transport))
    carol = Recorder(await sign_up(node, 1, "carol", transport))
    try:
        assert [r.client.welcome.edge_id for r in (alice, bob, carol) if r.client.welcome] == [
            "edge-1",
            "edge-1",
            "edge-2",
        ]
        group = await carol.client.create_group("drain", ["alice", "bob"])
        cid = group.conversation_id
        for i in range(10):
            await carol.client.send(cid, f"before {i}")

        drained = await admin(node, "drain", "edge-1")
        assert "edge-1" in drained and "yes" in drained

        async def send_during(recorder: Recorder, count: int) -> None:
            for i in range(count):
                await recorder.client.send(cid, f"{recorder.client.user_id} during {i}")

        # Everyone keeps sending while edge-1 tells its clients to move (sends are retried with
        # the same client_msg_id across the move: stored once).
        await asyncio.gather(send_during(carol, 20), send_during(alice, 5), send_during(bob, 5))
        for mover in (alice, bob):
            await mover.wait_until(mover.resumed_after_a_drop)
            assert mover.client.welcome is not None and mover.client.welcome.edge_id == "edge-2"
        for i in range(10):
            await carol.client.send(cid, f"after {i}")

        sent_by = {"carol": 10 + 20 + 10, "alice": 5, "bob": 5}
        total = sum(sent_by.values())
        for member in (alice, bob, carol):
            others = total - sent_by[member.client.user_id]

            def arrived(member: Recorder = member) -> list[pb.Message]:
                return [m for m in member.messages() if m.conversation_id == cid]

            await member.wait_until(lambda arrived=arrived, others=others: len(arrived()) >= others)
            seqs = [m.seq for m in arrived()]
            assert seqs == sorted(set(seqs)), "once each, in order"
            assert len(seqs) == others and max(seqs) <= total
            assert all(m.sender_id != member.client.user_id for m in arrived())
        history = await carol.client.history(cid, limit=100)
        bodies = [m.body for m in history.messages]
        assert len(bodies) == total and len(set(bodies)) == total, "every send stored once"
    finally:
        for recorder in (alice, bob, carol):
            await recorder.stop()


async def test_undrain_lets_the_edge_take_clients_again(two_edges: SingleNode) -> None:
    await admin(two_edges, "drain", "edge-1")
    for user in ("dave", "erin", "frank"):
        assert await edge_through_discovery(two_edges, user) == "edge-2"
    await admin(two_edges, "undrain", "edge-1")
    nodes = await admin(two_edges, "nodes", "--kind", "edge")
    assert [line.split()[:1] for line in nodes.splitlines()[1:]] == [["edge-1"], ["edge-2"]]
    assert "yes" not in nodes


async def test_a_browser_finds_an_edge_over_http(two_edges: SingleNode) -> None:
    """GET /v1/edge on the node's discovery, as a page's fetch() would (CORS included)."""
    host, port = two_edges.discovery_http.removeprefix("http://").split(":")
    await admin(two_edges, "drain", "edge-1")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /v1/edge?user=grace&device=laptop HTTP/1.1\r\nHost: x\r\nOrigin: http://app\r\n\r\n")
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Access-Control-Allow-Origin: *" in head
    found = json.loads(body)
    assert found["edgeId"] == "edge-2" and found["wsUrl"] == two_edges.ws_urls[1]


async def test_edges_report_their_load_and_new_clients_go_to_the_emptier_one(two_edges: SingleNode) -> None:
    """Three clients on edge-1: its report reaches discovery (watched, not polled), and the next
    two clients are sent to edge-2 whatever their hash (it never holds more than two)."""
    node = two_edges
    first = [await sign_up(node, 0, user, "ws") for user in ("ivan", "judy", "ken")]
    try:
        async with internal_channel(node.discovery_target, node.config.internal_secret) as channel:
            stub = discovery_pb2_grpc.DiscoveryStub(channel)
            watch = discovery_pb2.WatchNodesRequest(kind=discovery_pb2.NODE_KIND_EDGE, node_id="edge-1")
            stream = stub.WatchNodes(watch)
            async with asyncio.timeout(TIMEOUT_S):
                async for listing in stream:
                    if listing.nodes[0].connections == 3:
                        break
            stream.cancel()
        for user in ("leo", "mia"):
            assert await edge_through_discovery(node, user) == "edge-2"
    finally:
        for client in first:
            await client.close()


async def test_a_client_that_stays_on_a_drained_edge_is_told_then_closed_4010(tmp_path: Path) -> None:
    """A client that ignores the reconnect frame (a raw WebSocket) hears it, then the close."""
    config = config_for_tests(tmp_path, edges=2, drain_period_ms=0, drain_close_after_ms=200)
    node = await start_single_node(config)
    try:
        stayer = await WireClient.sign_up(node.ws_urls[0], "nora")
        stayer.keep_alive()
        await admin(node, "drain", "edge-1")
        told = await stayer.next_push("reconnect")
        assert (told.reconnect.reason, told.reconnect.close_after_ms) == ("draining", 200)
        async with asyncio.timeout(TIMEOUT_S):
            await stayer.closed.wait()
        assert stayer.ws.close_code == 4010
        # One that connects to the drained edge directly is told at once, after its welcome.
        late = await WireClient.sign_up(node.ws_urls[0], "omar")
        assert (await late.next_push("reconnect")).reconnect.after_ms == 0
        await late.close()
        await stayer.close()
    finally:
        await node.stop()
