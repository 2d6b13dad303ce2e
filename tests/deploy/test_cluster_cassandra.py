"""`hubbub cluster up --store cassandra` as a user runs it: a local Cassandra started and
migrated, messaging and both routers pointed at it, each router appending its partitions'
messages there itself; two users chat end to end over a direct chat and a group, history read
back through messaging is whole, and SIGTERM stops every process (Cassandra included)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from protos import client_pb2 as pb
from tests.cluster.traffic import history
from tests.deploy.test_cluster_up import alive
from tests.e2e.wire_client import WireClient

MESSAGES = 6
HUBBUB = [sys.executable, "-m", "deploy.cli"]


@pytest.mark.slow
async def test_cluster_up_with_the_store_in_cassandra_chats_end_to_end(tmp_path: Path) -> None:
    data = tmp_path / "cluster"
    argv = [
        *HUBBUB, "cluster", "up", "--store", "cassandra", "--edges", "1", "--routers", "2",
        "--partitions", "8", "--zookeeper-nodes", "1", "--no-redis", "--data-dir", str(data),
    ]  # fmt: skip
    up = await asyncio.to_thread(
        subprocess.Popen, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with up:
        try:
            banner = await asyncio.to_thread(read_banner, up)
            (line,) = [line for line in banner.splitlines() if "Cassandra (messages):" in line]
            assert "not started" not in line, banner
            state = json.loads((data / "cluster.json").read_text())
            assert state["cassandra_hosts"], state
            (edge,) = [p for p in state["processes"] if p["role"] == "edge"]
            await chat(edge["ws_url"])
            for router in ("router-1", "router-2"):
                log = (data / "logs" / f"{router}.log").read_text()
                assert "appending to the Cassandra log itself" in log, router
            pids = [p["pid"] for p in state["processes"]]
            up.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(up.wait, 120) == 0
            assert not [pid for pid in pids if alive(pid)], "a process outlived cluster up"
            assert not (data / "cluster.json").exists()
        finally:
            if up.poll() is None:
                up.terminate()
                try:
                    up.wait(60)
                except subprocess.TimeoutExpired:
                    up.kill()
                    up.wait()


def read_banner(up: subprocess.Popen[str]) -> str:
    assert up.stdout is not None
    lines = []
    for line in up.stdout:  # until the banner's last line (or exit: then the loop ends)
        lines.append(line)
        if line.startswith("Ctrl-C"):
            break
    text = "".join(lines)
    assert "edge-1 WebSocket:" in text, text + (
        up.stderr.read() if up.poll() is not None and up.stderr else ""
    )
    return text


async def chat(url: str) -> None:
    alice = await WireClient.sign_up(url, "alice")
    bob = await WireClient.sign_up(url, "bob")
    try:
        direct = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
        made = await alice.request(pb.ClientFrame(create_group=pb.CreateGroup(title="g", member_ids=["bob"])))
        for cid in (direct.conversation.conversation_id, made.conversation.conversation_id):
            acks = [await alice.send_text(cid, f"hello {i}", f"{cid}-{i}") for i in range(MESSAGES)]
            assert [a.sent.seq for a in acks] == list(range(1, MESSAGES + 1)), acks[-1]
            got = await bob.messages(MESSAGES, cid)
            assert [m.body for m in got] == [f"hello {i}" for i in range(MESSAGES)]
            stored = await history(bob, cid)
            assert [(m.seq, m.body) for m in stored] == [(i + 1, f"hello {i}") for i in range(MESSAGES)]
    finally:
        await asyncio.gather(alice.close(), bob.close())
