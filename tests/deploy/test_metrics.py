"""Every process serves Prometheus metrics; after traffic the counters moved by what was sent."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from deploy.single_node import start_single_node
from protos import client_pb2 as pb
from tests.deploy.traced_node import hubbub_up
from tests.e2e.conftest import config_for_tests
from tests.e2e.wire_client import WireClient

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(url: str) -> Samples:
    def get() -> str:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return str(reply.read().decode())

    text = await asyncio.to_thread(get)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def chat(ws_url: str) -> tuple[WireClient, WireClient, int]:
    alice = await WireClient.sign_up(ws_url, "alice")
    bob = await WireClient.sign_up(ws_url, "bob")
    reply = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
    return alice, bob, reply.conversation.conversation_id


async def scraped_until(url: str, done: Callable[[Samples], bool]) -> Samples:
    """Scrape until `done` holds: what a metric alone shows (a presence change published
    after the edge's report) has no other event to wait for."""
    async with asyncio.timeout(30):
        while True:
            samples = await scrape(url)
            if done(samples):
                return samples
            await asyncio.sleep(0.05)


async def test_counters_move_by_the_traffic_sent(tmp_path: Path) -> None:
    node = await start_single_node(config_for_tests(tmp_path, metrics_port=0))
    try:
        (url,) = node.metrics.values()  # one process, one endpoint
        start = await scrape(url)
        alice, bob, conv = await chat(node.ws_url)
        online = await scraped_until(
            url, lambda now: moved(start, now, "hubbub_presence_changes_total", status="online") >= 2
        )
        assert moved(start, online, "hubbub_presence_changes_total", status="online") == 2  # alice, bob
        before = await scrape(url)
        assert value(before, "hubbub_edge_connections", transport="ws_proto") >= 2
        for i in range(3):
            await alice.send_text(conv, f"counted {i}", f"m-{i}")
        await bob.messages(3, conv)
        refused = await alice.request(
            pb.ClientFrame(send=pb.SendMessage(conversation_id=conv + 1, client_msg_id="x", body="nope"))
        )
        after = await scrape(url)
        for c in (alice, bob):
            await c.close()
    finally:
        await node.stop()
    assert moved(before, after, "hubbub_edge_frames_in_total", kind="send") == 4
    assert moved(before, after, "hubbub_edge_frames_out_total", kind="sent") == 3
    assert moved(before, after, "hubbub_edge_frames_out_total", kind="message") == 3
    assert moved(before, after, "hubbub_edge_frames_out_total", kind="error") == 1
    assert moved(before, after, "hubbub_router_send_ack_seconds_count") == 3
    assert moved(before, after, "hubbub_router_delivery_seconds_count") == 3
    assert moved(before, after, "hubbub_router_fanout_sessions_sum") == 3  # bob's one session, each time
    assert moved(before, after, "hubbub_messaging_append_batch_items_sum") == 4
    assert moved(before, after, "hubbub_messaging_store_commit_seconds_count") >= 1
    code = refused.error.code
    assert moved(before, after, "hubbub_errors_total", code=code) == 1


async def test_each_process_of_hubbub_up_serves_its_own_metrics(tmp_path: Path) -> None:
    async with hubbub_up(tmp_path, "--processes", "edge/messaging") as ready:  # edge and messaging children
        endpoints = ready["metrics"]
        assert set(endpoints) == {"presence+router", "messaging", "edge"}
        assert len(set(endpoints.values())) == 3
        alice, bob, conv = await chat(ready["ws_url"])
        before = {name: await scrape(url) for name, url in endpoints.items()}
        for i in range(2):
            await alice.send_text(conv, f"counted {i}", f"m-{i}")
        await bob.messages(2, conv)
        after = {name: await scrape(url) for name, url in endpoints.items()}
        for c in (alice, bob):
            await c.close()
    assert moved(before["edge"], after["edge"], "hubbub_edge_frames_in_total", kind="send") == 2
    assert (
        moved(before["presence+router"], after["presence+router"], "hubbub_router_send_ack_seconds_count")
        == 2
    )
    assert moved(before["messaging"], after["messaging"], "hubbub_messaging_append_batch_items_sum") == 2
    # Each process counts only its own room's work.
    assert value(after["messaging"], "hubbub_edge_frames_in_total", kind="send") == 0
