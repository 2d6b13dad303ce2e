"""Presence through real Link streams: snapshot on a new session, Watch changes fanned out to
the audience, contacts, and a Watch stream that breaks and comes back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from protos import client_pb2
from router import RouterService
from tests.router.edge_client import WAIT_S, FakeEdge
from tests.router.fakes import FakeBackends

Connect = Callable[[str], Awaitable[FakeEdge]]
ONLINE = client_pb2.PRESENCE_STATUS_ONLINE
OFFLINE = client_pb2.PRESENCE_STATUS_OFFLINE


async def test_a_new_session_gets_the_status_of_everyone_it_watches(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    fakes.world.contacts["ann"] = {"ben", "cat"}
    fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_DIRECT, ["ann", "dan"])
    fakes.presence.set_online("ben")
    fakes.presence.set_online("dan")
    edge = await edges("edge-1")
    edge.open(1, "ann", "p")
    frames = await edge.wait_kind(1, "presence", 3)
    assert {(f.presence.user_id, f.presence.status) for f in frames} == {
        ("ben", ONLINE),
        ("cat", OFFLINE),
        ("dan", ONLINE),
    }


async def test_watch_changes_reach_the_audience_only(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    fakes.world.contacts["ann"] = {"ben"}  # ann watches ben; cat does not
    async with asyncio.timeout(WAIT_S):
        await fakes.presence.wait_watchers(1)
    edge = await edges("edge-1")
    edge.open(1, "ann", "p")
    edge.open(2, "ann", "laptop")
    edge.open(3, "cat", "p")
    await edge.wait_kind(1, "presence")  # the opening snapshots (ben offline)
    await edge.wait_kind(2, "presence")
    await fakes.presence.change(client_pb2.PresenceEvent(user_id="ben", status=ONLINE, last_seen_ms=5))
    for session_id, count in ((1, 2), (2, 2)):
        latest = (await edge.wait_kind(session_id, "presence", count))[-1].presence
        assert (latest.user_id, latest.status, latest.last_seen_ms) == ("ben", ONLINE, 5)
    change_items = [
        sorted(ids) for ids, f in edge.items if f.HasField("presence") and f.presence.status == ONLINE
    ]
    assert change_items == [[1, 2]]  # one item for both of ann's sessions, none for cat


async def test_adding_a_contact_replies_and_pushes_their_presence(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    fakes.presence.set_online("ben")
    fakes.world.contacts["ann"] = {"zed"}
    fakes.world.contacts["cat"] = {"ben"}
    async with asyncio.timeout(WAIT_S):
        await fakes.presence.wait_watchers(1)
    edge = await edges("edge-1")
    edge.open(1, "ann", "p")
    edge.open(2, "cat", "p")
    assert (await edge.wait_kind(1, "presence"))[0].presence.user_id == "zed"  # the opening snapshot
    await edge.wait_kind(2, "presence")
    # ben's audience gets cached without ann (cat hearing the change proves it was looked up)...
    await fakes.presence.change(client_pb2.PresenceEvent(user_id="ben", status=ONLINE, last_seen_ms=1))
    await edge.wait_kind(2, "presence", 2)
    edge.send_frames(1, client_pb2.ClientFrame(ref=7, contact=client_pb2.ContactRequest(add="ben")))
    reply = await edge.wait_ref(1, 7)
    assert list(reply.contacts.user_ids) == ["ben", "zed"]
    pushed = (await edge.wait_kind(1, "presence", 2))[1].presence
    assert (pushed.user_id, pushed.status) == ("ben", ONLINE)
    # ...and the add invalidated it: ben's next change reaches ann.
    await fakes.presence.change(client_pb2.PresenceEvent(user_id="ben", status=OFFLINE, last_seen_ms=9))
    latest = (await edge.wait_kind(1, "presence", 3))[-1].presence
    assert (latest.user_id, latest.status, latest.last_seen_ms) == ("ben", OFFLINE, 9)
    edge.send_frames(1, client_pb2.ClientFrame(ref=8, contact=client_pb2.ContactRequest(list=True)))
    assert list((await edge.wait_ref(1, 8)).contacts.user_ids) == ["ben", "zed"]
    edge.send_frames(1, client_pb2.ClientFrame(ref=9, contact=client_pb2.ContactRequest(remove="ben")))
    assert list((await edge.wait_ref(1, 9)).contacts.user_ids) == ["zed"]
    edge.send_frames(1, client_pb2.ClientFrame(ref=10, contact=client_pb2.ContactRequest()))
    assert (await edge.wait_ref(1, 10)).error.code == "BAD_FRAME"


async def test_a_broken_watch_stream_is_reopened(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    fakes.world.contacts["ann"] = {"ben"}
    async with asyncio.timeout(WAIT_S):
        await fakes.presence.wait_watchers(1)
    edge = await edges("edge-1")
    edge.open(1, "ann", "p")
    await edge.wait_kind(1, "presence")
    await fakes.presence.break_watchers()
    async with asyncio.timeout(WAIT_S):
        await fakes.presence.wait_watchers(2)
    await fakes.presence.change(client_pb2.PresenceEvent(user_id="ben", status=ONLINE))
    latest = (await edge.wait_kind(1, "presence", 2))[-1].presence
    assert (latest.user_id, latest.status) == ("ben", ONLINE)


async def test_sessions_opened_in_one_batch_share_one_watch_list_call_and_one_query(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    users = [f"u{i}" for i in range(40)]
    for index, user in enumerate(users):
        fakes.world.contacts[user] = {users[(index + 1) % len(users)], "star"}
    fakes.presence.set_online("star")
    edge = await edges("edge-1")
    edge.send_items([edge.opened_item(index + 1, user, "p") for index, user in enumerate(users)])
    for index in range(len(users)):
        frames = await edge.wait_kind(index + 1, "presence", 2)
        assert {(f.presence.user_id, f.presence.status) for f in frames} == {
            ("star", ONLINE),
            (users[(index + 1) % len(users)], OFFLINE),
        }
    assert fakes.accounts.watch_lists_calls == 1
    assert sorted(fakes.accounts.watch_lists_users[0]) == sorted(users)
    assert fakes.accounts.watch_list_calls == 0
    assert fakes.presence.query_calls == 1


async def test_a_direct_chat_shows_presence_once_both_sides_opened_it(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    fakes.presence.set_online("ann")
    fakes.presence.set_online("dan")
    edge = await edges("edge-1")
    edge.open(1, "ann", "p")
    edge.open(2, "dan", "p")
    ann_opens = client_pb2.OpenDirect(peer_id="dan")
    edge.send_frames(1, client_pb2.ClientFrame(ref=7, open_direct=ann_opens))
    cid = (await edge.wait_ref(1, 7)).conversation.conversation_id
    assert (await edge.wait_kind(2, "conversation_event"))[
        0
    ].conversation_event.conversation.conversation_id == cid
    # ann opened it one-sidedly: neither learns the other's status (a later reply proves the
    # open was handled in full, and frames of one session are answered in order)
    edge.send_frames(1, client_pb2.ClientFrame(ref=8, contact=client_pb2.ContactRequest(list=True)))
    await edge.wait_ref(1, 8)
    assert edge.of_kind(1, "presence") == [] and edge.of_kind(2, "presence") == []
    # dan answers by opening it too: each sees the other's dot at once, not at the next change
    edge.send_frames(2, client_pb2.ClientFrame(ref=9, open_direct=client_pb2.OpenDirect(peer_id="ann")))
    assert (await edge.wait_ref(2, 9)).conversation.conversation_id == cid
    ann_sees = (await edge.wait_kind(1, "presence"))[0].presence
    dan_sees = (await edge.wait_kind(2, "presence"))[0].presence
    assert (ann_sees.user_id, ann_sees.status) == ("dan", ONLINE)
    assert (dan_sees.user_id, dan_sees.status) == ("ann", ONLINE)
