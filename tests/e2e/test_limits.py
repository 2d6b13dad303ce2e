"""Inbound limits over a real node (issue 7, findings 4 and 8): a flooding user is answered
RATE_LIMITED with its ref and a retry-after and slows only itself; a user's connections share
one allowance; failed log-ins lock an account out; log-ins never take the query slots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploy.single_node import SingleNode, start_single_node
from kernel.clock import ManualClock, SystemClock
from messaging.passwords import PasswordHasher
from protos import client_pb2 as pb
from router import MemoryPushNotifier
from tests.conftest import LIFTED_LIMITS
from tests.e2e.conftest import config_for_tests
from tests.e2e.wire_client import TIMEOUT_S, WireClient

PASSWORD = "correct horse battery"  # WireClient.sign_up's


@pytest.fixture
def default_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite lifts the limits for every other test (tests/conftest.py): not here."""
    for key in LIFTED_LIMITS:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
async def node(default_limits: None, tmp_path: Path) -> AsyncIterator[SingleNode]:
    running = await start_single_node(config_for_tests(tmp_path), push=MemoryPushNotifier())
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def clock() -> ManualClock:
    return ManualClock(SystemClock().now_ms())  # ids are time-based: start at today


@pytest.fixture
async def manual_node(default_limits: None, tmp_path: Path, clock: ManualClock) -> AsyncIterator[SingleNode]:
    """A node on a clock that moves only when the test says: buckets refill only then."""
    running = await start_single_node(config_for_tests(tmp_path), clock=clock, push=MemoryPushNotifier())
    try:
        yield running
    finally:
        await running.stop()


async def direct(a: WireClient, peer: str) -> int:
    reply = await a.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id=peer)))
    return reply.conversation.conversation_id


async def settle(client: WireClient) -> None:
    """Frames on one connection are handled in order: once the pong is back, every frame sent
    before the ping was handled and its edge answer (if any) is queued ahead of the pong."""
    pong = await client.request(pb.ClientFrame(ping=pb.Ping()))
    assert pong.WhichOneof("kind") == "pong"


def errors(client: WireClient) -> list[pb.ServerFrame]:
    return [f for f in client.drain_pushes() if f.WhichOneof("kind") == "error"]


async def log_in(url: str, user_id: str, password: str) -> tuple[WireClient, pb.ServerFrame]:
    client = await WireClient.open(url)
    hello = pb.Hello(log_in=pb.Credentials(user_id=user_id, password=password), device_id="login")
    return client, await client.request(pb.ClientFrame(hello=hello))


FLOOD_FRAMES = 2_000


async def test_a_flooding_sender_is_rate_limited_and_a_bystander_is_all_acked(node: SingleNode) -> None:
    alice = await WireClient.sign_up(node.ws_url, "alice")
    bob = await WireClient.sign_up(node.ws_url, "bob")
    carol = await WireClient.sign_up(node.ws_url, "carol")
    dave = await WireClient.sign_up(node.ws_url, "dave")
    flood_conv = await direct(alice, "bob")
    calm_conv = await direct(carol, "dave")

    calm_done = asyncio.Event()
    flood_refs: list[int] = []

    async def flood() -> None:
        """Pipelines sends without reading the answers while the bystander runs, at most
        FLOOD_FRAMES of them: the socket buffers take them all unread, and the edge reads a
        paused flooder slowly, so an unbounded flood (on a slow machine the bystander takes
        long) would leave the later ping queued behind tens of thousands of frames."""
        ref = 1000
        while not calm_done.is_set() and len(flood_refs) < FLOOD_FRAMES:
            send = pb.SendMessage(conversation_id=flood_conv, client_msg_id=f"f-{ref}", body="spam")
            await alice.send_frame(pb.ClientFrame(ref=ref, send=send))  # waits while the edge pauses it
            flood_refs.append(ref)
            ref += 1
            await asyncio.sleep(0)  # let the bystander run between writes that did not block

    async def calm() -> None:
        """While the flood is being handled, every one of the bystander's sends is acknowledged."""
        try:
            for i in range(30):
                reply = await carol.send_text(calm_conv, f"calm {i}", f"c-{i}")
                assert reply.WhichOneof("kind") == "sent", reply
        finally:
            calm_done.set()

    await asyncio.gather(flood(), calm())
    assert len(flood_refs) > 50, "the flood outran its burst while the bystander was served"
    assert [m.body for m in await dave.messages(30, calm_conv)] == [f"calm {i}" for i in range(30)]

    await settle(alice)
    refused = [f for f in errors(alice) if f.error.code == "RATE_LIMITED"]
    assert refused, "the flood was refused"
    first = refused[0]
    assert first.ref in flood_refs and first.ref >= 1050, "echoes a refused frame's ref, after the burst"
    assert first.error.retryable and first.error.retry_after_ms > 0
    assert len(refused) < 50, "a flood is not answered with a flood"
    await settle(alice)  # the connection survives its own flood
    for c in (alice, bob, carol, dave):
        await c.close()


async def test_ten_connections_of_one_user_share_one_typing_allowance(manual_node: SingleNode) -> None:
    alice = await WireClient.sign_up(manual_node.ws_url, "alice")
    bob = await WireClient.sign_up(manual_node.ws_url, "bob")
    conv = await direct(alice, "bob")
    devices = [alice] + [
        await WireClient.with_token(manual_node.ws_url, alice.welcome.token, f"alice-{i}") for i in range(9)
    ]
    typing = pb.ClientFrame(ref=77, typing=pb.Typing(conversation_id=conv, active=True))
    told: list[pb.Error] = []
    for device in devices:  # 3 each: under a connection's burst of 5, over the user's 10 in all
        for _ in range(3):
            await device.send_frame(typing)
        await settle(device)
        told.extend(f.error for f in errors(device))
    assert [e.code for e in told] == ["RATE_LIMITED"] * 7, "every connection past the user's 10th event"
    assert all(e.retry_after_ms == 500 for e in told), "the user's bucket refills at 2 a second"
    # Another user is not limited by alice's flood.
    await bob.send_frame(pb.ClientFrame(typing=pb.Typing(conversation_id=conv, active=True)))
    await settle(bob)
    assert errors(bob) == []
    for c in (*devices, bob):
        await c.close()


async def test_failed_log_ins_lock_the_account_out_until_retry_after(
    manual_node: SingleNode, clock: ManualClock
) -> None:
    url = manual_node.ws_url
    await (await WireClient.sign_up(url, "alice")).close()
    for _ in range(5):
        client, reply = await log_in(url, "alice", "not the password")
        assert reply.error.code == "UNAUTHENTICATED"
        await client.close()
    client, locked = await log_in(url, "alice", PASSWORD)
    assert locked.error.code == "RATE_LIMITED" and locked.error.fatal
    assert locked.error.retry_after_ms == 12_000  # 5 failures a minute: one back every 12 s
    assert locked.ref == 1
    async with asyncio.timeout(TIMEOUT_S):
        await client.closed.wait()
    assert client.ws.close_code == 1013
    clock.advance(locked.error.retry_after_ms - 1)
    client, still = await log_in(url, "alice", PASSWORD)
    assert still.error.code == "RATE_LIMITED", "the right password too, until the retry-after"
    await client.close()
    clock.advance(1)
    client, welcome = await log_in(url, "alice", PASSWORD)
    assert welcome.WhichOneof("kind") == "welcome"
    await client.close()


async def test_a_log_in_storm_does_not_take_the_query_slots(
    node: SingleNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    carol = await WireClient.sign_up(node.ws_url, "carol")
    await (await WireClient.sign_up(node.ws_url, "dave")).close()
    await (await WireClient.sign_up(node.ws_url, "alice")).close()
    conv = await direct(carol, "dave")
    assert (await carol.send_text(conv, "hello", "c-1")).WhichOneof("kind") == "sent"

    gate = asyncio.Event()
    hashing = asyncio.Condition()
    entered = 0
    verify = PasswordHasher.verify

    async def gated_verify(self: PasswordHasher, password_hash: str, password: str) -> bool:
        nonlocal entered
        async with hashing:
            entered += 1
            hashing.notify_all()
        await gate.wait()
        return await verify(self, password_hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", gated_verify)
    # More log-ins than the edge has query slots (64), all stuck in password hashing.
    storm = [await WireClient.open(node.ws_url) for _ in range(80)]
    credentials = pb.Credentials(user_id="alice", password=PASSWORD)
    for i, client in enumerate(storm):
        await client.send_frame(pb.ClientFrame(ref=1, hello=pb.Hello(log_in=credentials, device_id=f"s{i}")))
    async with asyncio.timeout(TIMEOUT_S), hashing:
        await hashing.wait_for(lambda: entered >= 8)  # the edge's log-in slots are all taken

    history = await carol.request(pb.ClientFrame(history=pb.FetchHistory(conversation_id=conv)))
    assert [m.body for m in history.history.messages] == ["hello"], "answered while log-ins wait"
    assert entered == 8, "the rest of the storm waits at the edge, in slots of its own"

    gate.set()
    for client in storm:
        welcome = await client.next_push("welcome")
        assert welcome.welcome.user_id == "alice"
        await client.close()
    await carol.close()


async def test_sign_ups_from_one_address_are_limited(node: SingleNode) -> None:
    """Regression (issue 7, #8): 10,000 sign-ups in a loop all succeeded."""
    for i in range(20):
        await (await WireClient.sign_up(node.ws_url, f"user{i}")).close()
    client = await WireClient.open(node.ws_url)
    hello = pb.Hello(sign_up=pb.Credentials(user_id="one-more", password=PASSWORD), device_id="d")
    refused = await client.request(pb.ClientFrame(hello=hello))
    assert refused.error.code == "RATE_LIMITED" and refused.error.fatal
    assert 0 < refused.error.retry_after_ms <= 180_000  # 20 an hour: one back every 3 minutes
    async with asyncio.timeout(TIMEOUT_S):
        await client.closed.wait()
    assert client.ws.close_code == 1013


async def test_a_configured_sign_up_limit_is_the_one_applied(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Regression: an empty throttle is falsy (it has a len), so `throttle or AuthThrottle()`
    replaced the configured one with the defaults and a bench's node refused its 21st user."""
    monkeypatch.setenv("HUBBUB_SIGN_UPS_PER_ADDRESS", "25")
    running = await start_single_node(config_for_tests(tmp_path), push=MemoryPushNotifier())
    try:
        for i in range(25):
            await (await WireClient.sign_up(running.ws_url, f"user{i}")).close()
        client = await WireClient.open(running.ws_url)
        hello = pb.Hello(sign_up=pb.Credentials(user_id="one-more", password=PASSWORD), device_id="d")
        assert (await client.request(pb.ClientFrame(hello=hello))).error.code == "RATE_LIMITED"
        await client.close()
    finally:
        await running.stop()


async def test_typing_within_the_edge_burst_all_reaches_the_peer(node: SingleNode) -> None:
    """Regression: the router kept a second, silent typing limit (burst 3 per user and
    conversation) behind the edge's documented one (burst 5): two of five events were lost."""
    alice = await WireClient.sign_up(node.ws_url, "alice")
    bob = await WireClient.sign_up(node.ws_url, "bob")
    conv = await direct(alice, "bob")
    for i in range(5):  # a connection's typing burst
        await alice.send_frame(pb.ClientFrame(typing=pb.Typing(conversation_id=conv, active=i % 2 == 0)))
    await settle(alice)
    assert errors(alice) == [], "within the edge's burst: nothing refused"
    seen = [await bob.next_push("typing") for _ in range(5)]
    assert [(f.typing.user_id, f.typing.active) for f in seen] == [("alice", i % 2 == 0) for i in range(5)]
    for c in (alice, bob):
        await c.close()


async def answer_to(client: WireClient, ref: int, before: list[pb.ServerFrame]) -> pb.ServerFrame:
    """The first frame echoing `ref` (frames sent with send_frame land among the pushes);
    the frames that came before it are added to `before`."""
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            frame = await client.pushes.get()
            if frame.ref == ref:
                return frame
            before.append(frame)


async def test_a_send_behind_a_typing_flood_is_answered_and_stored(node: SingleNode) -> None:
    """Regression: once a typing flood paused the connection, every frame already read but a
    ping or goodbye was dropped unanswered: the send behind it got nothing and was not stored.
    Now each frame is judged by its own class's bucket: the send is within its allowance."""
    alice = await WireClient.sign_up(node.ws_url, "alice")
    bob = await WireClient.sign_up(node.ws_url, "bob")
    conv = await direct(alice, "bob")
    burst = [
        pb.ClientFrame(ref=100 + i, typing=pb.Typing(conversation_id=conv, active=True)) for i in range(20)
    ]
    send = pb.SendMessage(conversation_id=conv, client_msg_id="behind-the-flood", body="still here")
    burst.append(pb.ClientFrame(ref=999, send=send))
    # One write, so the edge reads all of it at once, before the pause can stop its reading.
    protocol = alice.ws.protocol
    for frame in burst:
        protocol.send_binary(frame.SerializeToString())
    alice.ws.transport.write(b"".join(protocol.data_to_send()))
    before: list[pb.ServerFrame] = []
    answer = await answer_to(alice, 999, before)
    assert answer.WhichOneof("kind") == "sent", answer
    refused = [f for f in before if f.WhichOneof("kind") == "error"]
    assert [(f.ref, f.error.code) for f in refused] == [(105, "RATE_LIMITED")], "the 6th, once"
    assert [m.body for m in await bob.messages(1, conv)] == ["still here"]
    for c in (alice, bob):
        await c.close()
