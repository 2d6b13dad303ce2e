"""kill -9 the node while a client sends: every acknowledged message survives, and the
client's retries of unacknowledged ones are stored exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from protos import client_pb2 as pb
from tests.e2e.wire_client import WireClient
from tests.hubbub_child import hubbub_up

ROOT = Path(__file__).resolve().parents[2]
# A durability test under load, not a test of the send limit: the sender may go flat out.
UNLIMITED_SENDS = {"HUBBUB_RATE_SEND_BURST": "1000000", "HUBBUB_RATE_SEND_PER_SECOND": "1000000"}


@contextlib.asynccontextmanager
async def node_process(data_dir: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    async with hubbub_up(data_dir, env={**os.environ, **UNLIMITED_SENDS}) as node:
        yield node.proc, node.ws_url


async def test_acknowledged_messages_survive_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    acked: dict[str, int] = {}
    attempted: list[str] = []
    enough_acked = asyncio.Event()
    async with node_process(data_dir) as (proc, url):
        alice = await WireClient.sign_up(url, "alice")
        bob = await WireClient.sign_up(url, "bob")
        token = alice.welcome.token
        reply = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
        conv = reply.conversation.conversation_id

        async def sender(lane: int) -> None:
            for i in range(10_000):
                client_msg_id = f"lane{lane}-{i}"
                attempted.append(client_msg_id)
                try:
                    reply = await alice.send_text(conv, f"message {client_msg_id}", client_msg_id)
                except (ConnectionError, TimeoutError, ConnectionClosed):
                    return
                if reply.WhichOneof("kind") == "sent":
                    acked[client_msg_id] = reply.sent.seq
                    if len(acked) >= 300:
                        enough_acked.set()

        lanes = [asyncio.create_task(sender(lane)) for lane in range(8)]
        # Kill once plenty has been acknowledged, with sends still in flight.
        async with asyncio.timeout(60):
            await enough_acked.wait()
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        await asyncio.gather(*lanes, return_exceptions=True)
        await alice.close()
        await bob.close()

    unacked = [m for m in attempted if m not in acked]
    assert len(acked) >= 300 and unacked

    async with node_process(data_dir) as (_, url):
        alice = await WireClient.with_token(url, token, "alice-phone")
        for client_msg_id in unacked:
            retry = await alice.send_text(conv, f"message {client_msg_id}", client_msg_id)
            assert retry.WhichOneof("kind") == "sent"
        stored: list[pb.Message] = []
        anchor = 0
        while True:
            page = await alice.request(
                pb.ClientFrame(
                    history=pb.FetchHistory(
                        conversation_id=conv,
                        anchor_seq=anchor,
                        direction=pb.HISTORY_DIRECTION_AFTER,
                        limit=100,
                    )
                )
            )
            stored.extend(page.history.messages)
            if not page.history.has_more:
                break
            anchor = page.history.messages[-1].seq
        await alice.close()

    by_id = {m.client_msg_id: m.seq for m in stored}
    assert [m.seq for m in stored] == list(range(1, len(stored) + 1)), "seqs are gap-free"
    assert len(by_id) == len(stored), "nothing is stored twice"
    for client_msg_id, seq in acked.items():
        assert by_id.get(client_msg_id) == seq, f"acknowledged {client_msg_id} lost or moved"
    assert set(by_id) == set(attempted), "every retried message is stored"
