"""`hubbub up --processes one --routers 2`: the edge reaches both routers of its process
without gRPC (kernel/link_streams.py), as the node's own metrics show, and chats on both."""

from __future__ import annotations

from pathlib import Path

from discovery import admin_cli
from kernel.partitions import partition_of
from protos import client_pb2 as pb
from tests.deploy.test_metrics import scrape, value
from tests.e2e.wire_client import WireClient
from tests.hubbub_child import hubbub_up

LINKS = "hubbub_router_links_opened_total"


async def owners(discovery_target: str, data_dir: Path) -> dict[int, str]:
    """partition -> router id, from `hubbub admin partitions` (the secret from the data dir)."""
    argv = ["--target", discovery_target, "--data-dir", str(data_dir), "partitions"]
    listed = await admin_cli.run(admin_cli.build_parser("hubbub admin").parse_args(argv))
    rows = [line.split() for line in listed.splitlines()[1:] if line.split()]
    return {int(row[0]): row[1] for row in rows if row[0].isdigit()}


async def test_one_process_with_two_routers_links_the_edge_to_both_without_grpc(tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = ("--processes", "one", "--routers", "2", "--metrics-port", "0")
    async with hubbub_up(data, *args) as node:
        (metrics,) = node.ready["metrics"].values()  # one process, one endpoint
        owner = await owners(node.ready["discovery_target"], data)
        assert set(owner.values()) == {"router-1", "router-2"}
        alice = await WireClient.sign_up(node.ws_url, "alice")
        bob = await WireClient.sign_up(node.ws_url, "bob")
        on: dict[str, int] = {}
        for attempt in range(200):  # groups get fresh ids: one on each router
            reply = await alice.request(
                pb.ClientFrame(create_group=pb.CreateGroup(title=f"g{attempt}", member_ids=["bob"]))
            )
            cid = reply.conversation.conversation_id
            on.setdefault(owner[partition_of(cid, len(owner))], cid)
            if len(on) == 2:
                break
        for router_id, cid in sorted(on.items()):
            sent = await alice.send_text(cid, f"hello via {router_id}", f"a-{cid}")
            assert sent.sent.seq == 1
            (got,) = await bob.messages(1, cid)
            assert got.body == f"hello via {router_id}"
        samples = await scrape(metrics)
        assert value(samples, LINKS, transport="local") >= 2, "one local Link per router"
        assert value(samples, LINKS, transport="grpc") == 0, "no router's gRPC Link was opened"
        for client in (alice, bob):
            await client.close()
        assert await node.stop() == 0
