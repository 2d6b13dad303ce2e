"""The single node runs the same in one process or split across child processes."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from deploy.single_node import process_groups, start_single_node
from kernel.errors import InvalidArgument
from protos import client_pb2 as pb
from tests.e2e.conftest import config_for_tests
from tests.e2e.wire_client import WireClient


def test_layouts_parse_into_groups_in_start_order() -> None:
    assert process_groups("one") == []
    assert process_groups("edge/router+messaging") == [("edge",), ("messaging", "router")]
    for bad in ("edge/edge", "edge+mailer", "router+edge/router"):
        with pytest.raises(InvalidArgument):
            process_groups(bad)


async def test_a_split_node_chats_end_to_end(tmp_path: Path) -> None:
    node = await start_single_node(config_for_tests(tmp_path, processes="edge/messaging"))
    try:
        assert len(node.child_pids) == 2
        alice = await WireClient.sign_up(node.ws_url, "alice")
        bob = await WireClient.sign_up(node.ws_url, "bob")
        reply = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
        conv = reply.conversation.conversation_id
        sent = await alice.send_text(conv, "across processes", "x-1")
        assert sent.sent.seq == 1
        (got,) = await bob.messages(1, conv)
        assert got.body == "across processes"
        for c in (alice, bob):
            await c.close()
    finally:
        pids = list(node.child_pids)
        await node.stop()
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


async def test_a_group_that_starts_before_its_dependencies_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="starts before"):
        await start_single_node(config_for_tests(tmp_path, processes="messaging+edge"))
