"""The send-order gates (edge/send_order.py), with no sockets: a send never overtakes an
earlier one of its session and partition that may still come back refused."""

from __future__ import annotations

import pytest

from edge import router_link
from edge.hub import Hub
from edge.router_link import RouterLinks
from edge.send_order import Held, SendOrder
from kernel.ownership import Owner
from protos import client_pb2 as pb
from protos.router_pb2 import EdgeItem, SessionRef

OLD = Owner("old", "old:1", 1)
NEW = Owner("new", "new:1", 2)


def held(ref: int, deadline_ms: int = 5_000) -> Held:
    frame = pb.ClientFrame(ref=ref, send=pb.SendMessage(conversation_id=5, client_msg_id=f"m{ref}"))
    return Held(EdgeItem(session=SessionRef(session_id=1), frame=frame, reroute_deadline_ms=deadline_ms))


def test_a_send_waits_while_an_earlier_one_is_unanswered_at_another_router() -> None:
    order = SendOrder()
    order.sent(1, 3, ref=1, target=OLD.target, until_ms=5_000)  # A went to the old owner
    assert not order.blocked(1, 3, OLD.target, 0), "same owner: the link keeps the order"
    assert order.blocked(1, 3, NEW.target, 0), "B may not overtake A at the new owner"
    assert not order.blocked(1, 4, NEW.target, 0) and not order.blocked(2, 3, NEW.target, 0)
    order.hold(1, 3, held(2), refused=False)  # B waits
    assert order.release(1, 3, NEW, 0) is None
    assert order.answered(1, 1, "new:1") is None, "only the router it went to answers it"
    assert order.answered(1, 1, OLD.target) == 3  # A refused: answered, then held first
    order.hold(1, 3, held(1), refused=True)
    first = order.release(1, 3, NEW, 0)
    assert first is not None and first.item.frame.ref == 1
    order.sent(1, 3, ref=1, target=NEW.target, until_ms=5_000)
    second = order.release(1, 3, NEW, 0)
    assert second is not None and second.item.frame.ref == 2
    assert order.release(1, 3, NEW, 0) is None and order.waiting() == 0


def test_a_refused_send_waits_for_an_owner_other_than_the_one_that_refused_it() -> None:
    order = SendOrder()
    order.hold(1, 3, Held(held(1).item, refused_by=OLD), refused=True)
    assert order.release(1, 3, OLD, 0) is None and order.release(1, 3, None, 0) is None
    moved = order.release(1, 3, NEW, 0)
    assert moved is not None and moved.item.frame.ref == 1


def test_refused_sends_keep_their_order_ahead_of_later_ones_and_expire_by_deadline() -> None:
    order = SendOrder()
    order.hold(1, 3, held(3, deadline_ms=9_000), refused=False)
    order.hold(1, 3, held(1, deadline_ms=4_000), refused=True)
    order.hold(1, 3, held(2, deadline_ms=4_000), refused=True)
    assert order.next_deadline_ms() == 4_000
    assert [h.item.frame.ref for _, h in order.expired(4_000)] == [1, 2]
    left = order.release(1, 3, NEW, 0)
    assert left is not None and left.item.frame.ref == 3 and order.waiting() == 0


def test_a_closed_session_leaves_nothing_behind() -> None:
    order = SendOrder()
    order.sent(1, 3, ref=1, target=OLD.target, until_ms=5_000)
    order.hold(1, 3, held(2), refused=False)
    order.drop_session(1)
    assert not order.awaits_answers(1) and order.waiting() == 0 and not order.blocked(1, 3, NEW.target, 0)


def test_an_answer_that_never_comes_holds_nothing_back_after_its_wait_or_its_link() -> None:
    order = SendOrder()
    order.sent(1, 3, ref=1, target=OLD.target, until_ms=5_000)
    assert order.blocked(1, 3, NEW.target, 4_999) and not order.blocked(1, 3, NEW.target, 5_000)
    assert order.next_deadline_ms() == 5_000, "the edge's timer wakes when a wait ends"
    order.forget(5_000)
    assert not order.awaits_answers(1) and order.next_deadline_ms() is None
    order.sent(1, 3, ref=2, target=OLD.target, until_ms=9_000)
    order.forget(0, OLD.target)  # its link went down
    assert not order.blocked(1, 3, NEW.target, 0) and not order.awaits_answers(1)


def test_what_is_held_is_counted_in_sends_and_bytes_until_it_goes() -> None:
    order = SendOrder()
    order.hold(1, 3, held(1), refused=False)
    order.hold(2, 3, held(2, deadline_ms=1_000), refused=False)
    assert order.held == 2 and order.held_bytes == held(1).item.ByteSize() + held(2).item.ByteSize()
    assert order.release(1, 3, NEW, 0) is not None
    assert [h.item.frame.ref for _, h in order.expired(1_000)] == [2]
    order.hold(1, 4, held(3), refused=True)
    order.drop_session(1)
    assert (order.held, order.held_bytes) == (0, 0)


async def test_an_edge_holding_too_many_sends_refuses_more_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sends held for an owner are bounded (count and bytes): past it, forward says no (the
    connection answers UNAVAILABLE, retry) instead of growing the edge's memory."""
    monkeypatch.setattr(router_link, "MAX_HELD_SENDS", 1)
    links = RouterLinks((), "edge-1", Hub(), pending_limit=10, partitions=8)  # no owner anywhere
    alice = SessionRef(session_id=1, user_id="alice", device_id="d")
    links.opened(alice)
    assert links.forward(alice, held(1).item.frame) and links.held_sends == 1
    assert not links.forward(alice, held(2).item.frame) and links.held_sends == 1
    links.closed(alice, graceful=True)
    assert links.held_sends == 0
    await links.stop()
