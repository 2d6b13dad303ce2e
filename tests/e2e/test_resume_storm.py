"""A reconnect storm over a real node: every client of many direct pairs comes back at once
and resumes (the edge batches what waits for messaging, edge/resume_batch.py). Each one gets
exactly what it missed, once, in order, and its ResumeDone."""

from __future__ import annotations

import asyncio

from deploy.single_node import SingleNode
from kernel.grpc_server import insecure_channel
from protos import client_pb2 as pb
from protos import messaging_pb2 as mpb
from protos import messaging_pb2_grpc as mgrpc
from tests.e2e.test_one_to_one import open_direct
from tests.e2e.wire_client import TIMEOUT_S, WireClient

PAIRS = 60
MISSED = 12


async def tokens_for(node: SingleNode, names: list[str]) -> dict[str, str]:
    async with insecure_channel(node.messaging_target, node.config.internal_secret) as channel:
        accounts = mgrpc.AccountsStub(channel)
        limit = asyncio.Semaphore(32)

        async def one(name: str) -> tuple[str, str]:
            async with limit:
                reply = await accounts.SignUp(
                    mpb.SignUpRequest(user_id=name, password="correct horse battery")
                )
                return name, reply.token

        return dict(await asyncio.gather(*(one(n) for n in names)))


async def send_missed(node: SingleNode, token: str, peer: str) -> int:
    """From another device of the pair's first member: MISSED messages, all acked."""
    sender = await WireClient.with_token(node.ws_url, token, "sender")
    try:
        conversation_id = await open_direct(sender, peer)
        for k in range(MISSED):
            sent = await sender.send_text(conversation_id, f"{peer} #{k}", f"m{k}")
            assert sent.WhichOneof("kind") == "sent", sent
        return conversation_id
    finally:
        await sender.close()


async def resume(client: WireClient, conversation_id: int) -> list[pb.ServerFrame]:
    """Every frame answering one resume, up to its ResumeDone (presence pushes left aside)."""
    cursor = pb.ConversationCursor(conversation_id=conversation_id, seq=0)
    frames = [await client.request(pb.ClientFrame(resume=pb.Resume(cursors=[cursor])))]
    async with asyncio.timeout(TIMEOUT_S):
        while frames[-1].WhichOneof("kind") != "resume_done":
            frame = await client.pushes.get()
            if frame.WhichOneof("kind") in ("history", "resume_done", "message", "error"):
                frames.append(frame)
    return frames


async def test_a_storm_of_resumes_is_answered_completely_once_and_in_order(node: SingleNode) -> None:
    pairs = [(f"storm{i}a", f"storm{i}b") for i in range(PAIRS)]
    tokens = await tokens_for(node, [name for pair in pairs for name in pair])
    conversations = await asyncio.gather(*(send_missed(node, tokens[a], b) for a, b in pairs))
    members = [(name, cid) for (a, b), cid in zip(pairs, conversations, strict=True) for name in (a, b)]
    clients = await asyncio.gather(
        *(WireClient.with_token(node.ws_url, tokens[n], "phone") for n, _ in members)
    )
    try:
        answers = await asyncio.gather(
            *(resume(c, cid) for c, (_, cid) in zip(clients, members, strict=True))
        )
        for (name, cid), frames in zip(members, answers, strict=True):
            assert [f.WhichOneof("kind") for f in frames] == ["history", "resume_done"], (name, frames[0])
            page, done = frames[0].history, frames[1].resume_done
            assert page.conversation_id == cid and not page.has_more
            assert [m.seq for m in page.messages] == list(range(1, MISSED + 1))
            peer = name[:-1] + "b"
            assert [m.body for m in page.messages] == [f"{peer} #{k}" for k in range(MISSED)]
            assert (done.conversations, done.has_more) == (1, False)
            assert frames[1].ref == frames[0].ref
    finally:
        await asyncio.gather(*(c.close() for c in clients))
