"""Issue 7 findings 6 and 7 over a real node and the client protocol: maximum-size messages
page through history, resume and the conversation list (each reply within the byte budget,
`hasMore` until the end), and concurrent adds never grow a group past 500."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect

from deploy.single_node import SingleNode
from kernel.limits import (
    MAX_BODY_CHARS,
    MAX_GROUP_MEMBERS,
    MAX_PAYLOAD_BYTES,
    MAX_REPLY_PAGE_BYTES,
    MAX_RESUME_REPLY_BYTES,
)
from protos import client_pb2 as pb
from tests.e2e.test_group_fanout import create_users
from tests.e2e.test_one_to_one import open_direct
from tests.e2e.wire_client import WireClient

BIG_BODY = "\U0001f600" * MAX_BODY_CHARS  # 400,000 bytes of UTF-8
BIG_PAYLOAD = bytes(range(256)) * (MAX_PAYLOAD_BYTES // 256) + bytes(MAX_PAYLOAD_BYTES % 256)
BIG_MESSAGES = 25


async def send_big(client: WireClient, conversation_id: int, client_msg_id: str) -> int:
    reply = await client.request(
        pb.ClientFrame(
            send=pb.SendMessage(
                conversation_id=conversation_id,
                client_msg_id=client_msg_id,
                content_type="text/plain",
                body=BIG_BODY,
                payload=BIG_PAYLOAD,
            )
        )
    )
    assert reply.WhichOneof("kind") == "sent", reply.error
    return reply.sent.seq


def check_page(frame: pb.ServerFrame) -> pb.HistoryPage:
    assert frame.WhichOneof("kind") == "history", frame.error
    page = frame.history
    assert page.ByteSize() <= MAX_REPLY_PAGE_BYTES and page.messages
    assert all(m.body == BIG_BODY and m.payload == BIG_PAYLOAD for m in page.messages)
    return page


async def history_seqs(
    client: WireClient, conversation_id: int, direction: pb.HistoryDirection.ValueType
) -> list[int]:
    """Page through the whole conversation the way a client does, following has_more."""
    seqs: list[int] = []
    anchor, pages, has_more = 0, 0, True
    while has_more:
        asked = pb.FetchHistory(
            conversation_id=conversation_id, anchor_seq=anchor, direction=direction, limit=100
        )
        page = check_page(await client.request(pb.ClientFrame(history=asked)))
        got = [m.seq for m in page.messages]
        seqs.extend(got)
        anchor = min(got) if direction == pb.HISTORY_DIRECTION_BEFORE else max(got)
        has_more, pages = page.has_more, pages + 1
    assert pages > 1, "25 maximum-size messages do not fit one page"
    return seqs


async def test_maximum_size_messages_page_through_history_resume_and_list(node: SingleNode) -> None:
    alice = await WireClient.sign_up(node.ws_url, "alice")
    alice.keep_alive()
    bob_first = await WireClient.sign_up(node.ws_url, "bob")
    await bob_first.close()
    conv = await open_direct(alice, "bob")
    sent = [await send_big(alice, conv, f"big-{i}") for i in range(BIG_MESSAGES)]
    assert sent == list(range(1, BIG_MESSAGES + 1))

    before = await history_seqs(alice, conv, pb.HISTORY_DIRECTION_BEFORE)
    assert sorted(before) == sent and len(before) == len(set(before))
    after = await history_seqs(alice, conv, pb.HISTORY_DIRECTION_AFTER)
    assert after == sent

    # bob comes back with nothing: resume, again from what he got, until nothing is missed.
    bob = await WireClient.with_token(node.ws_url, bob_first.welcome.token, "bob-phone")
    bob.keep_alive()
    received: list[int] = []
    rounds, missed = 0, True
    while missed:
        cursor = pb.ConversationCursor(conversation_id=conv, seq=received[-1] if received else 0)
        first = await bob.request(pb.ClientFrame(resume=pb.Resume(cursors=[cursor])))
        page = check_page(first)
        received.extend(m.seq for m in page.messages)
        done = await bob.next_push("resume_done")
        assert done.ref == first.ref and done.resume_done.conversations == 1
        assert done.resume_done.has_more == page.has_more
        missed, rounds = done.resume_done.has_more, rounds + 1
    assert received == sent and rounds > 1

    for client in (alice, bob):
        listed = await client.request(pb.ClientFrame(list_conversations=pb.ListConversations()))
        assert listed.WhichOneof("kind") == "conversations", listed.error
        (row,) = listed.conversations.items
        assert row.conversation.conversation_id == conv and row.last_message.seq == BIG_MESSAGES
        assert not listed.conversations.has_more
    await asyncio.gather(alice.close(), bob.close())


async def resume_frames(client: WireClient, cursors: list[pb.ConversationCursor]) -> list[pb.ServerFrame]:
    """Every frame answering one resume: its history pages, then resume_done."""
    first = await client.request(pb.ClientFrame(resume=pb.Resume(cursors=cursors)))
    frames = [first]
    async with asyncio.timeout(15):
        while frames[-1].WhichOneof("kind") != "resume_done":
            frame = await client.pushes.get()
            if frame.ref == first.ref:
                frames.append(frame)
    return frames


async def test_a_member_of_many_groups_with_big_last_messages_lists_them_all(node: SingleNode) -> None:
    carol = await WireClient.sign_up(node.ws_url, "carol")
    carol.keep_alive()
    dave = await WireClient.sign_up(node.ws_url, "dave")
    dave.keep_alive()
    groups: list[int] = []
    for i in range(22):
        created = await carol.request(
            pb.ClientFrame(create_group=pb.CreateGroup(title=f"g{i}", member_ids=["dave"]))
        )
        assert created.WhichOneof("kind") == "conversation", created.error
        groups.append(created.conversation.conversation_id)
        await send_big(carol, groups[-1], f"last-{i}")

    listed: list[int] = []
    before_ms, before_id, pages, has_more = 0, 0, 0, True
    while has_more:
        asked = pb.ListConversations(
            limit=100, before_activity_ms=before_ms, before_conversation_id=before_id
        )
        reply = await dave.request(pb.ClientFrame(list_conversations=asked))
        assert reply.WhichOneof("kind") == "conversations", reply.error
        page = reply.conversations
        assert page.items and page.ByteSize() <= MAX_REPLY_PAGE_BYTES
        assert all(row.last_message.body == BIG_BODY for row in page.items)
        listed.extend(row.conversation.conversation_id for row in page.items)
        before_ms = page.items[-1].conversation.last_activity_ms
        before_id = page.items[-1].conversation.conversation_id
        has_more, pages = page.has_more, pages + 1
    assert listed == groups[::-1] and pages > 1  # newest activity first, each once

    # One resume spans all 22: its pages together stay within the budget, the rest are left
    # out with resumeDone.hasMore, and resuming again from what arrived fetches them.
    got: dict[int, int] = {}
    rounds, missed = 0, True
    while missed:
        cursors = [pb.ConversationCursor(conversation_id=cid, seq=seq) for cid, seq in got.items()]
        frames = await resume_frames(dave, cursors)
        resumed = [f.history for f in frames[:-1]]
        done = frames[-1].resume_done
        assert done.conversations == len(resumed) >= 1
        assert sum(p.ByteSize() for p in resumed) <= MAX_RESUME_REPLY_BYTES
        for p in resumed:
            assert [m.seq for m in p.messages] == [1] and not p.has_more
            assert p.conversation_id not in got  # nothing twice
            got[p.conversation_id] = 1
        missed, rounds = done.has_more, rounds + 1
    assert sorted(got) == sorted(groups) and rounds > 1
    await asyncio.gather(carol.close(), dave.close())


async def pipelined_adds(owner: WireClient, conv: int, batches: list[list[str]]) -> list[pb.ServerFrame]:
    """All the updates on the wire before the first answer (WireClient.request sends first)."""
    return await asyncio.gather(
        *(
            owner.request(
                pb.ClientFrame(
                    update_group=pb.UpdateGroup(conversation_id=conv, add_members=pb.MemberList(user_ids=b))
                )
            )
            for b in batches
        )
    )


async def test_pipelined_adds_never_grow_a_group_past_the_limit(node: SingleNode) -> None:
    """Finding 7: two pipelined adds of 300 gave 601 members, four of 200 gave 801."""
    names = [f"m{i:03d}" for i in range(800)]
    await create_users(node, names)
    owner = await WireClient.sign_up(node.ws_url, "olga")
    owner.keep_alive()
    for batches in ([names[:300], names[300:600]], [names[i : i + 200] for i in range(0, 800, 200)]):
        created = await owner.request(pb.ClientFrame(create_group=pb.CreateGroup(title="race")))
        conv = created.conversation.conversation_id
        replies = await pipelined_adds(owner, conv, batches)
        lost = [r for r in replies if r.WhichOneof("kind") == "error"]
        won = [r for r in replies if r.WhichOneof("kind") != "error"]
        assert all(r.error.code == "LIMIT_EXCEEDED" for r in lost)
        assert len(won) == (MAX_GROUP_MEMBERS - 1) // len(batches[0])
        # Each accepted change answers with the group as it left it; the last one is the whole group.
        sizes = sorted(len(r.conversation.members) for r in won)
        assert sizes == [1 + len(batches[0]) * (i + 1) for i in range(len(won))]
        assert sizes[-1] <= MAX_GROUP_MEMBERS
    await owner.close()


CONTROL_BODY = "\x01" * MAX_BODY_CHARS  # 100,000 bytes in protobuf, 600,000 escaped in JSON


async def test_a_json_client_that_reads_gets_every_page_within_the_budget_and_is_never_cut_off(
    node: SingleNode,
) -> None:
    """Pages are cut by what the client receives: 45 messages of control characters (6 bytes
    each once JSON-escaped) reach a JSON client in frames within the budget, so a client that
    reads is never closed 4009, and paging and resume get it everything."""
    alice = await WireClient.sign_up(node.ws_url, "alice")
    bob_first = await WireClient.sign_up(node.ws_url, "bob")
    await bob_first.close()
    conv = await open_direct(alice, "bob")
    for i in range(45):
        reply = await alice.send_text(conv, CONTROL_BODY, f"ctl-{i}")
        assert reply.WhichOneof("kind") == "sent", reply.error
    await alice.close()

    limit = MAX_REPLY_PAGE_BYTES + 64 * 1024  # the page and the frame around it
    async with connect(node.ws_url, subprotocols=["hubbub.v1.json"], max_size=2**26) as bob:  # type: ignore[list-item]

        async def ask(frame: dict[str, object], until: str) -> list[str]:
            await bob.send(json.dumps(frame))
            frames: list[str] = []
            while True:
                data = await asyncio.wait_for(bob.recv(), 30)
                assert isinstance(data, str)
                parsed = json.loads(data)
                if parsed.get("ref") != frame["ref"]:
                    continue  # a push (presence) in between
                frames.append(data)
                if until in parsed:
                    return frames

        token = bob_first.welcome.token
        await ask({"ref": "1", "hello": {"token": token, "deviceId": "bob-json"}}, "welcome")
        received: set[int] = set()
        anchor, has_more = "0", True
        while has_more:
            query = {"conversationId": str(conv), "anchorSeq": anchor, "limit": 100}
            (frame,) = await ask({"ref": "2", "history": query}, "history")
            assert len(frame.encode()) <= limit
            page = json.loads(frame)["history"]
            seqs = [int(m["seq"]) for m in page["messages"]]
            received.update(seqs)
            anchor, has_more = str(min(seqs)), page.get("hasMore", False)
        assert received == set(range(1, 46))

        resumed: set[int] = set()
        more = True
        while more:
            cursor = {"conversationId": str(conv), "seq": str(max(resumed, default=0))}
            frames = await ask({"ref": "3", "resume": {"cursors": [cursor]}}, "resumeDone")
            assert all(len(f.encode()) <= limit for f in frames)
            for f in frames[:-1]:
                resumed.update(int(m["seq"]) for m in json.loads(f)["history"]["messages"])
            more = json.loads(frames[-1])["resumeDone"].get("hasMore", False)
        assert resumed == set(range(1, 46))
