"""Queries behind a session's unanswered receipts (edge/held.py): held while a delivered/read
is with the router, released in order by its answer, never held for anything else."""

from __future__ import annotations

from edge.actions import QueryKind, ToMessaging
from edge.held import HeldQueries
from protos import client_pb2 as pb


def query(ref: int) -> ToMessaging:
    return ToMessaging(QueryKind.LIST_CONVERSATIONS, ref, "bob", pb.ClientFrame(ref=ref))


async def test_queries_wait_for_the_receipts_sent_before_them() -> None:
    released: list[int] = []
    held = HeldQueries(lambda: released.append(1))
    assert not held.hold(query(1))  # nothing in flight: runs at once
    held.sent(10)
    held.sent(11)
    assert held.hold(query(2)) and held.hold(query(3))
    held.answered(pb.ServerFrame(ref=10, pong=pb.Pong()))  # not a receipt's answer
    held.answered(pb.ServerFrame(ref=99, cursors_stored=pb.CursorsStored()))  # not ours
    held.answered(pb.ServerFrame(ref=10, cursors_stored=pb.CursorsStored(cursors=1)))
    assert held.waiting and held.release() == []
    held.answered(pb.ServerFrame(ref=11, error=pb.Error(code="NOT_MEMBER")))
    assert not held.waiting
    assert [q.ref for q in held.release()] == [2, 3]
    assert not held.hold(query(4))
    assert released == []  # the timer never fired: the answers released them
