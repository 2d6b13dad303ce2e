"""Out-of-range ids, oversized receipt frames and read-your-writes, over a real node through
the client protocol (issue 7, findings 3 and 9): a clear error for the frame that carried the
bad value and nothing for anyone else; one answer per delivered/read frame; a query after a
`read` on the same connection sees it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from deploy.single_node import SingleNode
from kernel.limits import MAX_RECEIPT_CURSORS
from protos import client_pb2 as pb
from tests.e2e.wire_client import TIMEOUT_S, WireClient

TOO_BIG = 2**63
MINUS_ONE = 2**64 - 1  # a protobuf int64 -1 read as uint64


def cursor(cid: int, seq: int) -> pb.ConversationCursor:
    return pb.ConversationCursor(conversation_id=cid, seq=seq)


def bad_frames(good_cid: int) -> list[pb.ClientFrame]:
    """Every frame kind that carries an id or a seq, with one out of range."""
    return [
        pb.ClientFrame(send=pb.SendMessage(conversation_id=TOO_BIG, client_msg_id="x", body="hi")),
        pb.ClientFrame(read=pb.MarkRead(cursors=[cursor(TOO_BIG, 1)])),
        pb.ClientFrame(read=pb.MarkRead(cursors=[cursor(good_cid, MINUS_ONE)])),
        pb.ClientFrame(delivered=pb.AckDelivered(cursors=[cursor(good_cid, 1), cursor(TOO_BIG, 1)])),
        pb.ClientFrame(history=pb.FetchHistory(conversation_id=TOO_BIG)),
        pb.ClientFrame(history=pb.FetchHistory(conversation_id=good_cid, anchor_seq=MINUS_ONE)),
        pb.ClientFrame(read_by=pb.ReadBy(conversation_id=TOO_BIG, seq=1)),
        pb.ClientFrame(read_by=pb.ReadBy(conversation_id=good_cid, seq=MINUS_ONE)),
        pb.ClientFrame(typing=pb.Typing(conversation_id=TOO_BIG, active=True)),
        pb.ClientFrame(update_group=pb.UpdateGroup(conversation_id=TOO_BIG, rename="x")),
        pb.ClientFrame(resume=pb.Resume(cursors=[cursor(TOO_BIG, 1)])),
    ]


async def direct(a: WireClient, peer: str) -> int:
    reply = await a.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id=peer)))
    return reply.conversation.conversation_id


async def test_out_of_range_ids_get_invalid_argument_and_a_bystander_is_served(
    node: SingleNode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    mallory = await WireClient.sign_up(node.ws_url, "mallory")
    bob = await WireClient.sign_up(node.ws_url, "bob")
    carol = await WireClient.sign_up(node.ws_url, "carol")
    own = await direct(mallory, "bob")
    chat = await direct(bob, "carol")

    async def attack() -> list[pb.ServerFrame]:
        answers = []
        for _ in range(5):
            for frame in bad_frames(own):
                answers.append(await mallory.request(frame))
        return answers

    async def bystander() -> list[pb.ServerFrame]:
        answers = []
        for i in range(30):
            sent = await bob.send_text(chat, f"m{i}", f"b-{i}")
            read = await carol.request(
                pb.ClientFrame(read=pb.MarkRead(cursors=[cursor(chat, sent.sent.seq)]))
            )
            answers += [sent, read]
        return answers

    attacked, served = await asyncio.gather(attack(), bystander())
    assert {(a.WhichOneof("kind"), a.error.code) for a in attacked} == {("error", "INVALID_ARGUMENT")}
    kinds = [a.WhichOneof("kind") for a in served]
    assert kinds == ["sent", "cursors_stored"] * 30
    assert [a.sent.seq for a in served[::2]] == list(range(1, 31))
    for client in (mallory, bob, carol):
        assert (await client.request(pb.ClientFrame(ping=pb.Ping()))).WhichOneof("kind") == "pong"
        await client.close()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


async def test_json_ids_past_the_range_and_a_negative_seq_are_refused(node: SingleNode) -> None:
    async with connect(node.ws_url, subprotocols=["hubbub.v1.json"]) as ws:  # type: ignore[list-item]

        async def ask(frame: Any) -> Any:
            await ws.send(orjson.dumps(frame).decode())
            async with asyncio.timeout(TIMEOUT_S):
                reply = orjson.loads(await ws.recv())
            return reply

        hello = {"ref": "1", "hello": {"signUp": {"userId": "alice", "password": "correct horse"}}}
        assert "welcome" in await ask(hello)
        big = {"ref": "2", "read": {"cursors": [{"conversationId": "9223372036854775808", "seq": "1"}]}}
        assert await ask(big) == {
            "ref": "2",
            "error": {"code": "INVALID_ARGUMENT", "message": "read cursor conversationId out of range "
                      "(at most 9223372036854775807)"},
        }  # fmt: skip
        negative = await ask({"ref": "3", "read": {"cursors": [{"conversationId": "42", "seq": "-1"}]}})
        assert negative["error"]["code"] == "BAD_FRAME"  # not a uint64 at all
        history = await ask(
            {"ref": "4", "history": {"conversationId": "42", "anchorSeq": "18446744073709551615"}}
        )
        assert history["error"]["code"] == "INVALID_ARGUMENT"
        bob = await WireClient.sign_up(node.ws_url, "bob")
        opened = await ask({"ref": "6", "openDirect": {"peerId": "bob"}})
        cid = opened["conversation"]["conversationId"]
        assert isinstance(cid, str)  # a 64-bit id travels as a string
        read = {"ref": "9", "read": {"cursors": [{"conversationId": cid, "seq": "318"}]}}
        assert await ask(read) == {"ref": "9", "cursorsStored": {"cursors": 1}}  # as docs/protocol.md shows
        assert "pong" in await ask({"ref": "5", "ping": {}})
        await bob.close()


async def test_a_frame_of_40000_cursors_gets_one_error_and_costs_nothing_else(node: SingleNode) -> None:
    bob = await WireClient.sign_up(node.ws_url, "bob")
    alice = await WireClient.sign_up(node.ws_url, "alice")
    chat = await direct(bob, "alice")
    huge = [cursor(1_000_000 + i, 1) for i in range(40_000)]
    reply = await bob.request(pb.ClientFrame(delivered=pb.AckDelivered(cursors=huge)))
    assert (reply.WhichOneof("kind"), reply.error.code) == ("error", "INVALID_ARGUMENT")
    # At the cap, every cursor unknown: still one answer, and the good one in the frame is stored.
    unknown = [cursor(1_000_000 + i, 1) for i in range(MAX_RECEIPT_CURSORS - 1)]
    alice_sent = await alice.send_text(chat, "hi", "a-1")
    reply = await bob.request(pb.ClientFrame(read=pb.MarkRead(cursors=[*unknown, cursor(chat, 1)])))
    assert (reply.WhichOneof("kind"), reply.error.code) == ("error", "NOT_FOUND")
    listed = await bob.request(pb.ClientFrame(list_conversations=pb.ListConversations()))
    (item,) = listed.conversations.items
    assert (item.read_seq, item.unread) == (alice_sent.sent.seq, 0)
    await bob.request(pb.ClientFrame(ping=pb.Ping()))
    assert [f for f in bob.drain_pushes() if f.WhichOneof("kind") == "error"] == []
    await bob.close()
    await alice.close()


async def test_read_then_list_conversations_back_to_back_sees_the_read(node: SingleNode) -> None:
    alice = await WireClient.sign_up(node.ws_url, "alice")
    bob = await WireClient.sign_up(node.ws_url, "bob")
    chat = await direct(alice, "bob")
    for i in range(1, 21):
        sent = await alice.send_text(chat, f"m{i}", f"a-{i}")
        assert sent.sent.seq == i
        # Pipelined: the read is not awaited before the query goes out on the same connection.
        await bob.send_frame(pb.ClientFrame(ref=10_000 + i, read=pb.MarkRead(cursors=[cursor(chat, i)])))
        listed = await bob.request(pb.ClientFrame(list_conversations=pb.ListConversations()))
        (item,) = listed.conversations.items
        assert (item.unread, item.read_seq) == (0, i), f"try {i}"
        page = await bob.request(pb.ClientFrame(read_by=pb.ReadBy(conversation_id=chat, seq=i)))
        assert page.WhichOneof("kind") == "read_by"
    stored = [f for f in bob.drain_pushes() if f.WhichOneof("kind") == "cursors_stored"]
    assert [f.ref for f in stored] == [10_000 + i for i in range(1, 21)]
    assert all(f.cursors_stored.cursors == 1 for f in stored)
    await alice.close()
    await bob.close()
