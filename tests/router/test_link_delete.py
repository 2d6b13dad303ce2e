"""A deletion through real Link streams: it takes the send path (ordered, one Append with the
sends), its entry answers the deleter and reaches every other session as message_deleted, and
no offline member is pushed for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from protos import client_pb2
from router import RouterService
from tests.router.conftest import memory_push
from tests.router.edge_client import FakeEdge
from tests.router.fakes import FakeBackends

Connect = Callable[[str], Awaitable[FakeEdge]]


def delete_frame(cid: int, seq: int, ref: int) -> client_pb2.ClientFrame:
    return client_pb2.ClientFrame(
        ref=ref, delete_message=client_pb2.DeleteMessage(conversation_id=cid, seq=seq)
    )


async def test_a_deletion_reaches_every_other_session_and_pushes_nobody(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_GROUP, ["ann", "ben", "cat"])
    for user in ("ann", "ben"):
        fakes.world.contacts[user] = {"buddy"}  # so each open gets an observable presence snapshot
    edge = await edges("edge-1")
    edge.open(1, "ann", "phone")
    edge.open(2, "ann", "laptop")
    edge.open(3, "ben", "phone")  # cat has no session: pushed for messages
    await edge.registered(1, 2, 3)
    edge.send_text(1, cid, "m1", "oops", ref=1)
    (sent,) = await edge.wait_kind(1, "sent")
    push = memory_push(router)
    await push.wait_for(1)

    edge.send_frames(1, delete_frame(cid, sent.sent.seq, ref=2))
    answer = await edge.wait_ref(1, 2)
    assert answer.WhichOneof("kind") == "message_deleted"
    assert (answer.message_deleted.seq, answer.message_deleted.deletes_seq) == (2, 1)
    for session_id in (2, 3):  # the deleter's other device and the other member
        (got,) = await edge.wait_kind(session_id, "message_deleted")
        assert got.message_deleted == answer.message_deleted and got.ref == 0
    assert edge.of_kind(1, "message_deleted") == [answer]  # the deleter's session: the answer only

    # A later message to cat is collapsed (one push per conversation within the window): had
    # the deletion been handed to push, it would have been collapsed first, and counted.
    edge.send_text(3, cid, "m2", "after", ref=3)
    await edge.wait_kind(3, "sent")
    assert [(n.user_id, n.seq) for n in push.notifications] == [("cat", 1)]
    assert router.core.ctx.push.collapsed == 1  # the later message only
