"""`hubbub up` as a subprocess exporting its traces, and one message sent through it: what
the tracing tests (an OTLP sink, the Phoenix UI) share."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from protos import client_pb2 as pb
from tests.e2e.wire_client import WireClient
from tests.hubbub_child import hubbub_up as hubbub_child

ROOT = Path(__file__).resolve().parents[2]
# Every hop of one message, each once, but edge.push twice (bob's message, alice's sent ack).
HOPS = ("edge.receive", "router.persist", "messaging.store_commit", "router.fanout", "router.ack")


@asynccontextmanager
async def hubbub_up(tmp_path: Path, *args: str) -> AsyncIterator[dict[str, Any]]:
    """`hubbub up --ready-json *args` on free ports; yields its ready line."""
    async with hubbub_up_process(tmp_path, *args) as (_, ready):
        yield ready


@asynccontextmanager
async def hubbub_up_process(
    tmp_path: Path, *args: str, stderr: int | None = None
) -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, Any]]]:
    """The same, yielding the process too (its stderr piped when `stderr` says so)."""
    env = dict(os.environ, OTEL_BSP_SCHEDULE_DELAY="100")  # export within 0.1 s, not 5 s
    cheap_hashing = (
        "--password-hash-time-cost", "1", "--password-hash-memory-kib", "8",
        "--password-hash-parallelism", "1",
    )  # fmt: skip
    async with hubbub_child(
        tmp_path / "data", *cheap_hashing, *args, env=env, stderr=stderr, graceful_exit=True
    ) as node:
        yield node.proc, node.ready


async def one_message(ws_url: str) -> str:
    """alice sends bob one message; returns its trace id (from the pushed frame's context),
    or "" when the message was not traced."""
    alice = await WireClient.sign_up(ws_url, "alice")
    bob = await WireClient.sign_up(ws_url, "bob")
    reply = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
    conv = reply.conversation.conversation_id
    await alice.send_text(conv, "traced across processes", "t-1")
    pushed = await bob.next_push("message", lambda f: f.message.conversation_id == conv)
    cursor = pb.ConversationCursor(conversation_id=conv, seq=pushed.message.seq)
    await bob.request(pb.ClientFrame(delivered=pb.AckDelivered(cursors=[cursor])))  # linked to the trace
    for client in (alice, bob):
        await client.close()
    traceparent = pushed.trace.get("traceparent", "")
    return traceparent.split("-")[1] if traceparent else ""


def is_whole(names: list[str]) -> bool:
    return all(names.count(hop) == 1 for hop in HOPS) and names.count("edge.push") == 2
