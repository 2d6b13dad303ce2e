"""Bad input and failures through real Link streams: error frames with stable codes, the link
unharmed; typing passed on (the edge limits it); a dropped link forgets its edge's sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from grpc import aio

from kernel.errors import RateLimited
from kernel.grpc_server import insecure_channel
from protos import client_pb2, router_pb2, router_pb2_grpc
from router import RouterService
from tests.router.conftest import memory_push
from tests.router.edge_client import FakeEdge, text_frame
from tests.router.fakes import FakeBackends

Connect = Callable[[str], Awaitable[FakeEdge]]


async def test_non_member_send_gets_not_member_and_the_link_stays_up(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_DIRECT, ["ann", "ben"])
    edge = await edges("edge-1")
    edge.open(1, "eve", "p")
    edge.open(2, "ann", "p")
    edge.open(3, "ben", "p")
    edge.send_text(1, cid, "sneak", "let me in", ref=11)
    error = (await edge.wait_ref(1, 11)).error
    assert (error.code, error.retryable) == ("NOT_MEMBER", False)
    edge.send_text(2, cid, "legit", "hello", ref=12)
    await edge.wait_ref(2, 12)
    await edge.wait_kind(3, "message")
    assert edge.of_kind(3, "message")[0].message.client_msg_id == "legit"


async def test_malformed_items_are_answered_and_skipped(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_DIRECT, ["ann", "ben"])
    edge = await edges("edge-1")
    edge.open(1, "ann", "p")
    edge.open(2, "ben", "p")
    session = router_pb2.SessionRef(session_id=1, user_id="ann", device_id="p")
    edge.send_items(
        [
            router_pb2.EdgeItem(session=session),  # no kind at all
            router_pb2.EdgeItem(),  # not even a session
            router_pb2.EdgeItem(session=session, frame=client_pb2.ClientFrame(ref=21)),  # empty frame
            router_pb2.EdgeItem(
                session=session, frame=client_pb2.ClientFrame(ref=22, ping=client_pb2.Ping())
            ),
            router_pb2.EdgeItem(session=session, frame=text_frame(0, "zero", "no conversation", ref=23)),
            router_pb2.EdgeItem(
                session=router_pb2.SessionRef(session_id=9), frame=text_frame(cid, "anon", "who?", ref=24)
            ),
            router_pb2.EdgeItem(session=session, frame=text_frame(cid, "ok", "fine", ref=25)),
        ]
    )
    sent = await edge.wait_ref(1, 25)
    assert sent.sent.seq == 1
    codes = {f.ref: f.error.code for f in edge.frames[1] if f.HasField("error")}
    assert codes == {21: "BAD_FRAME", 22: "BAD_FRAME", 23: "INVALID_ARGUMENT", 0: "BAD_FRAME"}
    assert edge.frames[9][0].error.code == "BAD_FRAME"
    await edge.wait_kind(2, "message")


async def test_unavailable_store_is_a_retryable_error_then_recovers(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_DIRECT, ["ann", "ben"])
    edge = await edges("edge-1")
    edge.open(1, "ann", "p")
    fakes.world.unavailable = True
    edge.send_text(1, cid, "m1", "hello", ref=1)
    error = (await edge.wait_ref(1, 1)).error
    assert (error.code, error.retryable) == ("UNAVAILABLE", True)
    assert "Traceback" not in error.message
    fakes.world.unavailable = False
    edge.send_text(1, cid, "m1", "hello", ref=2)
    assert (await edge.wait_ref(1, 2)).sent.seq == 1


async def test_typing_reaches_others_and_the_router_drops_none(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    """The edge's buckets limit typing (answered RATE_LIMITED); the router adds no silent
    limit of its own behind them (it once kept one of burst 3 that dropped what passed)."""
    cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_GROUP, ["ann", "ben", "cat"])
    edge = await edges("edge-1")
    edge.open(1, "ann", "p")
    edge.open(2, "ann", "laptop")
    edge.open(3, "ben", "p")
    edge.open(4, "cat", "p")
    edge.send_text(1, cid, "warm", "members cached now", ref=1)
    await edge.wait_kind(3, "message")
    typing = client_pb2.ClientFrame(typing=client_pb2.Typing(conversation_id=cid, active=True))
    edge.send_frames(1, *([typing] * 20))
    # Barrier: a message after the typing events (typing needs no round trip, the message does).
    edge.send_text(1, cid, "barrier", "after the typing", ref=2)
    await edge.wait_kind(3, "message", 2)
    events = edge.of_kind(3, "typing")
    assert len(events) == 20
    assert (events[0].typing.user_id, events[0].typing.active) == ("ann", True)
    assert len(edge.of_kind(4, "typing")) == 20
    assert edge.of_kind(2, "typing") == [] and edge.of_kind(1, "typing") == []  # never the typist


async def test_non_member_typing_is_not_member(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_GROUP, ["ann", "ben"])
    edge = await edges("edge-1")
    edge.open(1, "eve", "p")
    edge.send_frames(
        1, client_pb2.ClientFrame(ref=4, typing=client_pb2.Typing(conversation_id=cid, active=True))
    )
    assert (await edge.wait_ref(1, 4)).error.code == "NOT_MEMBER"
    edge.send_frames(
        1, client_pb2.ClientFrame(ref=5, typing=client_pb2.Typing(conversation_id=12345, active=True))
    )
    assert (await edge.wait_ref(1, 5)).error.code == "NOT_FOUND"


async def test_a_dropped_link_forgets_that_edges_sessions(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_DIRECT, ["ann", "ben"])
    edge_1 = await edges("edge-1")
    edge_2 = await edges("edge-2")
    edge_1.open(1, "ben", "p")
    edge_2.open(1, "ann", "p")
    await edge_1.registered(1)
    await edge_2.registered(1)
    edge_2.send_text(1, cid, "m0", "you there?", ref=1)
    await edge_1.wait_kind(1, "message")  # ben is online on edge-1
    assert memory_push(router).notifications == []
    await edge_1.abort()
    # The router sees the stream end asynchronously: keep sending until ben counts as offline.
    push = memory_push(router)
    for attempt in range(1, 200):
        edge_2.send_text(1, cid, f"m{attempt}", "and now?", ref=attempt + 1)
        await edge_2.wait_ref(1, attempt + 1)
        if push.notifications:
            break
    notes = await push.wait_for(1)
    assert notes[0].user_id == "ben"
    assert await router.directory.session_count() == 1  # only ann on edge-2


async def test_a_reconnecting_edge_replays_its_sessions(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_DIRECT, ["ann", "ben"])
    edge_1 = await edges("edge-1")
    edge_1.open(1, "ben", "p")
    await edge_1.wait_kind(1, "presence")  # the opening snapshot: ann (direct peer) is offline
    await edge_1.close()
    fakes.world.contacts["dan"] = {"ann"}
    again = await edges("edge-1")
    again.send_items([again.opened_item(1, "ben", "p", replay=True), again.opened_item(2, "dan", "p")])
    await again.registered(2)  # dan's open came after ben's replay on the same stream
    sender = await edges("edge-2")
    sender.open(1, "ann", "p")
    await sender.wait_kind(1, "presence")
    sender.send_text(1, cid, "m1", "welcome back", ref=1)
    await again.wait_kind(1, "message")
    # A replayed session gets no fresh presence snapshot (it had one before the link dropped):
    # dan's snapshot (queued after ben's replay) arrives, and nothing came for ben's session.
    await again.wait_kind(2, "presence")
    assert not [ids for ids, f in again.items if 1 in ids and f.HasField("presence")]
    asked = sorted(user for batch in fakes.accounts.watch_lists_users for user in batch)
    assert asked == ["ann", "ben", "dan"]  # ben's first open, dan's and ann's; not the replay
    assert fakes.accounts.watch_list_calls == 0  # the batched call replaced the per-user one


async def test_a_link_without_an_edge_id_is_refused(router: RouterService) -> None:
    async def one_anonymous_batch() -> AsyncIterator[router_pb2.EdgeBatch]:
        yield router_pb2.EdgeBatch(items=[])

    async with insecure_channel(router.target) as channel:
        call = router_pb2_grpc.RouterStub(channel).Link(one_anonymous_batch())
        with pytest.raises(aio.AioRpcError) as failure:
            async with asyncio.timeout(30):
                async for _ in call:
                    pass
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_commands_beyond_the_cap_are_refused_retryably(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_GROUP, ["ann", "ben"])
    router.core.max_commands_in_flight = 0  # as if Messaging were stalled with the table full
    edge = await edges("edge-1")
    edge.open(1, "ann", "p")
    edge.send_frames(
        1, client_pb2.ClientFrame(ref=6, typing=client_pb2.Typing(conversation_id=cid, active=True))
    )
    refused = (await edge.wait_ref(1, 6)).error
    assert (refused.code, refused.retryable) == ("UNAVAILABLE", True)
    router.core.max_commands_in_flight = 10
    edge.send_frames(1, client_pb2.ClientFrame(ref=7, open_direct=client_pb2.OpenDirect(peer_id="ben")))
    answer = await edge.wait_ref(1, 7)
    assert answer.WhichOneof("kind") == "conversation", "below the cap, commands run again"


async def test_a_rate_limited_refusal_from_messaging_reaches_the_client_with_its_retry_after(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    """Regression: the router's error builder dropped retry_after_ms, so a RATE_LIMITED raised
    behind it reached the client without saying when to try again."""
    fakes.world.refuse_open_direct = RateLimited(
        "too many new chats: retry after 1500 ms", retry_after_ms=1500
    )
    edge = await edges("edge-1")
    edge.open(1, "ann", "p")
    edge.send_frames(1, client_pb2.ClientFrame(ref=31, open_direct=client_pb2.OpenDirect(peer_id="ben")))
    error = (await edge.wait_ref(1, 31)).error
    assert (error.code, error.retryable, error.retry_after_ms) == ("RATE_LIMITED", True, 1500)
