"""The single node runs the same in one process or split across child processes."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import psutil
import pytest

from bench.layouts import LAYOUTS
from deploy.single_node import process_groups, start_single_node
from kernel.errors import InvalidArgument
from protos import client_pb2 as pb
from tests.e2e.conftest import config_for_tests
from tests.e2e.wire_client import WireClient
from tests.hubbub_child import hubbub_up

ROOT = Path(__file__).resolve().parents[2]


def test_layouts_parse_into_groups_in_start_order() -> None:
    assert process_groups("one") == []
    assert process_groups("edge/router+messaging") == [("edge",), ("messaging", "router")]
    for bad in ("edge/edge", "edge+mailer", "router+edge/router"):
        with pytest.raises(InvalidArgument):
            process_groups(bad)


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_every_layout_chats_end_to_end(tmp_path: Path, layout: str) -> None:
    """Send, a retry stored once, delivery, and a receipt the sender sees: on every layout the
    default was chosen among (router and messaging in one process call each other in-process)."""
    node = await start_single_node(config_for_tests(tmp_path, processes=layout))
    try:
        assert len(node.child_pids) == len(process_groups(layout))
        alice = await WireClient.sign_up(node.ws_url, "alice")
        bob = await WireClient.sign_up(node.ws_url, "bob")
        reply = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
        conv = reply.conversation.conversation_id
        sent = await alice.send_text(conv, "across processes", "x-1")
        assert sent.sent.seq == 1
        retry = await alice.send_text(conv, "across processes", "x-1")
        assert (retry.sent.seq, retry.sent.duplicate) == (1, True)
        (got,) = await bob.messages(1, conv)
        assert got.body == "across processes"
        read = pb.MarkRead(cursors=[pb.ConversationCursor(conversation_id=conv, seq=1)])
        stored = await bob.request(pb.ClientFrame(read=read))
        assert stored.WhichOneof("kind") == "cursors_stored"
        receipt = await alice.next_push("receipt", lambda f: f.receipt.user_id == "bob")
        assert receipt.receipt.up_to_seq == 1
        for c in (alice, bob):
            await c.close()
    finally:
        pids = list(node.child_pids)
        await node.stop()
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


async def test_a_group_that_starts_before_its_dependencies_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="starts before"):
        await start_single_node(config_for_tests(tmp_path, processes="messaging+edge"))


async def test_hubbub_up_split_serves_and_stops_cleanly(tmp_path: Path) -> None:
    """Through the real command (uvloop, signals): children start, serve, and exit with it."""
    async with hubbub_up(tmp_path / "data", "--processes", "edge/messaging") as node:
        children = psutil.Process(node.proc.pid).children()
        assert len(children) == 2
        alice = await WireClient.sign_up(node.ws_url, "alice")
        pong = await alice.request(pb.ClientFrame(ping=pb.Ping()))
        assert pong.WhichOneof("kind") == "pong"
        await alice.close()
        assert await node.stop() == 0
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("layout", ["edge/messaging", "one"])
async def test_a_taken_port_is_one_clear_line_not_a_traceback(tmp_path: Path, layout: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "deploy.cli", "up", "--data-dir", str(tmp_path / "data"),
            "--ws-port", str(port), "--gateway-port", "0", "--discovery-port", "0", "--processes", layout,
            cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(60):
            _, stderr = await proc.communicate()
    assert proc.returncode == 1
    text = stderr.decode()
    assert "hubbub up: cannot start:" in text and "address already in use" in text
    assert "Traceback" not in text
