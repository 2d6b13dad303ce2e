"""ChatClient.delete_message against a real node: the peer's client gets the deletion entry
as a Message event in order (no gap, no refetch), history shows the message deleted, and a
refusal is raised with its stable code."""

from __future__ import annotations

import pytest

from deploy.single_node import SingleNode
from kernel.errors import PermissionDenied
from protos import client_pb2 as pb
from tests.sdk.test_client_e2e import messages, sign_up, unique


@pytest.mark.parametrize("transport", ["ws", "ws-json", "grpc"])
async def test_a_deletion_reaches_the_peer_as_an_ordered_entry(node: SingleNode, transport: str) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = await sign_up(node, alice_id, transport)  # type: ignore[arg-type]
    bob = await sign_up(node, bob_id, transport)  # type: ignore[arg-type]
    try:
        conversation = (await alice.open_direct(bob_id)).conversation_id
        first = await alice.send(conversation, "oops")
        await messages(bob, 1)
        entry = await alice.delete_message(conversation, first.seq)
        assert (entry.seq, entry.deletes_seq, entry.sender_id) == (2, 1, alice_id)
        assert await alice.delete_message(conversation, first.seq) == entry  # idempotent

        (live,) = await messages(bob, 1)
        assert (live.seq, live.deletes_seq) == (2, 1)
        assert bob.cursor(conversation) == 2 and alice.cursor(conversation) == 2
        page = await bob.history(conversation)
        assert [(m.seq, m.deleted, m.body) for m in page.messages] == [(1, True, ""), (2, False, "")]

        reply = await bob.send(conversation, "mine")
        with pytest.raises(PermissionDenied):
            await alice.delete_message(conversation, reply.seq)
        assert isinstance(await alice.send(conversation, "still connected"), pb.Sent)
    finally:
        await alice.close()
        await bob.close()
