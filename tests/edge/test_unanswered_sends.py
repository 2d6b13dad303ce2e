"""A send whose router will not answer it is answered UNAVAILABLE (retry) by the edge, so its
sender retries at once instead of waiting out its own timeout: a router frozen past its
ZooKeeper session keeps its connection open (so no link goes down) and never acks as a stale
owner. RouterLinks with no sockets: the links are never started, the map moves as ZooKeeper
would move it, and answers arrive as deliveries."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from edge import router_link
from edge.codec import PushedFrame
from edge.router_link import RouterLinks
from kernel.errors import ErrorCode
from kernel.ownership import Owner, PartitionMap
from protos import client_pb2 as pb
from protos.router_pb2 import EdgeItem, RouterBatch, RouterItem, SessionRef

P = 4
OLD = Owner("r1", "127.0.0.1:1", 3)
NEW = Owner("r2", "127.0.0.1:2", 5)
UNAVAILABLE = ErrorCode.UNAVAILABLE.value
ALICE = SessionRef(session_id=7, user_id="alice", device_id="alice-phone")


class RecordingHub:
    def __init__(self) -> None:
        self.answers: list[pb.ServerFrame] = []

    def live_refs(self) -> list[SessionRef]:
        return [ALICE]

    def deliver(self, session_ids: Sequence[int], frame: PushedFrame) -> None:
        self.answers.append(frame.frame())


def owned_by(owner: Owner, version: int) -> PartitionMap:
    return PartitionMap(P, version, (owner,) * P)


def send(ref: int) -> pb.ClientFrame:
    return pb.ClientFrame(ref=ref, send=pb.SendMessage(conversation_id=1, client_msg_id=f"m{ref}"))


def sent(ref: int) -> RouterBatch:
    frame = pb.ServerFrame(ref=ref, sent=pb.Sent(seq=ref))
    return RouterBatch(items=[RouterItem(session_ids=[ALICE.session_id], frame=frame.SerializeToString())])


@pytest.fixture
def links(monkeypatch: pytest.MonkeyPatch) -> tuple[RouterLinks, RecordingHub]:
    monkeypatch.setattr(router_link, "REROUTE_WAIT_S", 0.0)  # every wait is over at once
    hub = RecordingHub()
    made = RouterLinks((), "edge-1", hub, 100, partitions=P)  # type: ignore[arg-type]
    made.set_map(owned_by(OLD, 1))
    made.opened(ALICE)
    return made, hub


def written(edge: RouterLinks) -> None:
    """What each link's writer does with what is queued: takes it for its stream (a frozen
    router's socket still accepts it)."""
    for link in edge.links:
        link._take()


async def due_timers_ran() -> None:
    """Returns once the loop ran the timers due by now (the edge's expiry of waits): a timer
    of ours due now fires after every one due earlier."""
    loop = asyncio.get_running_loop()
    fired = loop.create_future()
    loop.call_later(0, fired.set_result, None)
    await fired


def errors(hub: RecordingHub) -> list[tuple[int, str]]:
    return [(f.ref, f.error.code) for f in hub.answers if f.WhichOneof("kind") == "error"]


async def test_a_send_to_a_router_whose_partition_moved_is_answered_unavailable(
    links: tuple[RouterLinks, RecordingHub],
) -> None:
    edge, hub = links
    assert edge.forward(ALICE, send(1))
    written(edge)
    await due_timers_ran()  # its wait ends; the map still names the router it went to
    assert errors(hub) == [], "a slow owner may still answer"
    edge.set_map(owned_by(NEW, 2))  # frozen past its session: the partition moved
    assert errors(hub) == [(1, UNAVAILABLE)]
    await edge.stop()


async def test_a_late_answer_is_the_only_answer(links: tuple[RouterLinks, RecordingHub]) -> None:
    edge, hub = links
    assert edge.forward(ALICE, send(1))
    written(edge)
    await due_timers_ran()
    edge.deliver(sent(1), OLD.target)  # slow, not gone
    edge.set_map(owned_by(NEW, 2))  # a planned handoff after it
    assert [f.WhichOneof("kind") for f in hub.answers] == ["sent"]
    await edge.stop()


async def test_a_send_whose_wait_ends_after_the_move_is_answered_then(
    links: tuple[RouterLinks, RecordingHub],
) -> None:
    edge, hub = links
    assert edge.forward(ALICE, send(1))
    written(edge)
    edge.set_map(owned_by(NEW, 2))  # the move comes first; its wait is not over yet
    assert errors(hub) == []
    await due_timers_ran()
    assert errors(hub) == [(1, UNAVAILABLE)]
    await edge.stop()


async def test_a_send_still_queued_when_its_link_goes_down_goes_out_on_the_next_one(
    links: tuple[RouterLinks, RecordingHub],
) -> None:
    edge, hub = links
    assert edge.forward(ALICE, send(1))
    written(edge)
    assert edge.forward(ALICE, send(2))  # queued behind: not written when the stream broke
    edge._link_down(OLD.target)
    assert errors(hub) == [(1, UNAVAILABLE)], "only what the broken stream took is lost with it"
    await edge.stop()


async def test_a_later_send_waits_behind_one_still_queued_for_the_old_owner(
    links: tuple[RouterLinks, RecordingHub], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(router_link, "REROUTE_WAIT_S", 60.0)  # waits that last the test
    edge, hub = links
    assert edge.forward(ALICE, send(1))  # queued for r1, never written
    edge._link_down(OLD.target)  # send 1 stays queued for r1's next stream
    edge.set_map(owned_by(NEW, 2))  # the partition moves to r2
    assert edge.forward(ALICE, send(2))
    queued_at_new = edge._by_target[NEW.target].queued_sends() if NEW.target in edge._by_target else set()
    assert (ALICE.session_id, 2) not in queued_at_new, "send 2 would reach r2 before send 1"
    assert errors(hub) == []
    await edge.stop()


def refused(ref: int) -> RouterBatch:
    """The router's STALE_OWNER refusal of `send(ref)`: the item comes back whole."""
    return refused_item(send(ref))


def refused_item(frame: pb.ClientFrame) -> RouterBatch:
    item = EdgeItem(session=ALICE, frame=frame)
    return RouterBatch(items=[RouterItem(session_ids=[ALICE.session_id], refused=item)])


def kinds(hub: RecordingHub) -> list[tuple[int, str]]:
    return [(f.ref, f.WhichOneof("kind") or "") for f in hub.answers]


def sent_to(edge: RouterLinks, target: str) -> set[tuple[int, int]]:
    link = edge._by_target.get(target)
    return link.queued_sends() if link is not None else set()


async def given_up_after_a_move(edge: RouterLinks) -> None:
    """Send 1 goes to r1, which freezes past its session: the partition moves to r2 and the
    edge answers the send UNAVAILABLE once its wait is over."""
    assert edge.forward(ALICE, send(1))
    written(edge)
    edge.set_map(owned_by(NEW, 2))
    await due_timers_ran()


async def test_a_send_answered_unavailable_is_not_answered_again_when_its_old_router_thaws(
    links: tuple[RouterLinks, RecordingHub],
) -> None:
    edge, hub = links
    await given_up_after_a_move(edge)
    assert kinds(hub) == [(1, "error")]
    edge.deliver(refused(1), OLD.target)  # it thaws and refuses what it was sent
    assert (ALICE.session_id, 1) not in sent_to(edge, NEW.target), "the edge would answer ref 1 twice"
    edge.deliver(sent(1), OLD.target)  # nor does any other late answer of it reach the client
    assert kinds(hub) == [(1, "error")]
    await edge.stop()


async def test_the_retry_of_a_send_answered_unavailable_is_answered(
    links: tuple[RouterLinks, RecordingHub],
) -> None:
    edge, hub = links
    await given_up_after_a_move(edge)
    assert edge.forward(ALICE, send(1))  # the client retries: same clientMsgId, same ref
    assert (ALICE.session_id, 1) in sent_to(edge, NEW.target)
    written(edge)
    edge.deliver(refused(1), OLD.target)  # the first attempt's late refusal: dropped
    edge.deliver(sent(1), NEW.target)  # the retry's answer
    assert kinds(hub) == [(1, "error"), (1, "sent")]
    await edge.stop()


async def test_a_retry_to_the_same_router_is_answered_once(
    links: tuple[RouterLinks, RecordingHub],
) -> None:
    edge, hub = links
    assert edge.forward(ALICE, send(1))
    written(edge)
    edge._link_down(OLD.target)  # answered UNAVAILABLE; the client retries on the next stream
    assert edge.forward(ALICE, send(1))
    written(edge)
    edge.deliver(sent(1), OLD.target)
    edge.deliver(sent(1), OLD.target)  # one attempt's answer too many
    assert kinds(hub) == [(1, "error"), (1, "sent")]
    await edge.stop()


async def test_another_frame_reusing_the_ref_of_a_send_given_up_is_answered(
    links: tuple[RouterLinks, RecordingHub],
) -> None:
    edge, hub = links
    assert edge.forward(ALICE, send(1))
    written(edge)
    edge._link_down(OLD.target)
    typing = pb.ClientFrame(ref=1, typing=pb.Typing(conversation_id=1))
    assert edge.forward(ALICE, typing)  # the client's refs are its own to reuse
    answer = pb.ServerFrame(ref=1, error=pb.Error(code="NOT_MEMBER", message="no"))
    item = RouterItem(session_ids=[ALICE.session_id], frame=answer.SerializeToString())
    edge.deliver(RouterBatch(items=[item]), OLD.target)
    assert kinds(hub) == [(1, "error"), (1, "error")]
    await edge.stop()


async def test_a_send_kept_aside_and_refused_is_answered_once(
    links: tuple[RouterLinks, RecordingHub], monkeypatch: pytest.MonkeyPatch
) -> None:
    edge, hub = links
    assert edge.forward(ALICE, send(1))
    written(edge)
    await due_timers_ran()  # its wait ends while r1 still owns the partition: kept aside
    monkeypatch.setattr(router_link, "REROUTE_WAIT_S", 60.0)  # the reroute's wait lasts the test
    edge.deliver(refused(1), OLD.target)  # r1 lost it after all: the refusal is the answer so far
    edge.set_map(owned_by(NEW, 2))  # the send goes to r2
    assert (ALICE.session_id, 1) in sent_to(edge, NEW.target)
    written(edge)
    edge.deliver(sent(1), NEW.target)
    assert kinds(hub) == [(1, "sent")], "answered sent, then UNAVAILABLE for the move"
    await edge.stop()


def deletion(ref: int, seq: int = 1) -> pb.ClientFrame:
    return pb.ClientFrame(ref=ref, delete_message=pb.DeleteMessage(conversation_id=1, seq=seq))


async def test_a_deletion_to_a_router_whose_partition_moved_is_answered_unavailable(
    links: tuple[RouterLinks, RecordingHub],
) -> None:
    edge, hub = links
    assert edge.forward(ALICE, deletion(4))
    written(edge)
    edge.set_map(owned_by(NEW, 2))  # its router froze past its session
    await due_timers_ran()
    assert errors(hub) == [(4, UNAVAILABLE)], "the client would wait out its own timeout"
    await edge.stop()


async def test_a_send_after_a_deletion_waits_for_the_deletions_answer(
    links: tuple[RouterLinks, RecordingHub], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(router_link, "REROUTE_WAIT_S", 60.0)
    edge, _ = links
    assert edge.forward(ALICE, deletion(4))
    written(edge)
    edge.set_map(owned_by(NEW, 2))
    assert edge.forward(ALICE, send(5))  # held: the deletion may still come back refused
    assert (ALICE.session_id, 5) not in sent_to(edge, NEW.target)
    edge.deliver(refused_item(deletion(4)), OLD.target)  # refused: both go to r2, in order
    assert [item.frame.ref for item in edge._by_target[NEW.target].pending().items] == [4, 5]
    await edge.stop()
