"""An acknowledged append survives SIGKILL: a child process appends and prints each ack, the
test kills it mid-stream, reopens the file and checks every ack, the seqs, and retries."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from messaging.store.sqlite import SqliteStore
from tests.messaging.store.durability_writer import CONVERSATION_ID, SENDERS, client_msg_id, new_message

REPO = Path(__file__).resolve().parents[3]
ACKS_BEFORE_KILL = 400


async def _acks_then_kill(path: Path) -> dict[str, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.messaging.store.durability_writer",
        str(path),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    acked: dict[str, int] = {}
    try:
        async with asyncio.timeout(90):
            assert await proc.stdout.readline() == b"ready\n"
            while len(acked) < ACKS_BEFORE_KILL:
                line = await proc.stdout.readline()
                assert line, "writer exited early"
                seq, cmid = line.decode().split()
                acked[cmid] = int(seq)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        # Acks already in the pipe were printed after their commit: they count too.
        rest = await proc.stdout.read()
        await proc.wait()
    for tail_line in rest.decode().split("\n")[:-1]:  # a final unterminated fragment is no ack
        tail_seq, tail_cmid = tail_line.split()
        acked[tail_cmid] = int(tail_seq)
    assert proc.returncode == -signal.SIGKILL
    return acked


async def test_acknowledged_appends_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    acked = await _acks_then_kill(path)

    store = SqliteStore(path)
    await store.open()
    try:
        last = await store.last_seq(CONVERSATION_ID)
        stored = await store.history(
            CONVERSATION_ID, anchor_seq=0, direction="after", limit=last + 10, newest_first=False
        )
        assert [m.seq for m in stored] == list(range(1, last + 1))
        by_cmid = {m.client_msg_id: m.seq for m in stored}
        assert len(by_cmid) == len(stored)
        for cmid, seq in acked.items():
            assert by_cmid.get(cmid) == seq

        # The writer numbers its messages m0, m1, ...; at most SENDERS were in flight unacked.
        highest = max(int(cmid[1:]) for cmid in {*acked, *by_cmid})
        attempted = [new_message(n) for n in range(highest + SENDERS + 1)]
        outcomes = await store.append(attempted)
        for outcome in outcomes:
            if outcome.message.client_msg_id in acked:
                assert outcome.duplicate
                assert outcome.message.seq == acked[outcome.message.client_msg_id]
        final = await store.history(
            CONVERSATION_ID, anchor_seq=0, direction="after", limit=len(attempted) + 10, newest_first=False
        )
        assert [m.seq for m in final] == list(range(1, len(attempted) + 1))
        assert sorted(m.client_msg_id for m in final) == sorted(
            client_msg_id(n) for n in range(len(attempted))
        )
    finally:
        await store.close()
