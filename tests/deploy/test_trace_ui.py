"""A message's trace in a real tracing UI: Arize Phoenix on free ports receives what every
process of `hubbub up` exports, and its REST API shows the trace whole."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.local_servers.phoenix import start_phoenix, trace_spans, trace_url
from deploy.local_servers.process import LocalServer
from tests.deploy.traced_node import hubbub_up, is_whole, one_message

POLL_S = 0.2  # Phoenix has no push API: its REST answer is polled until the spans are in
ARRIVAL_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    server = start_phoenix(tmp_path_factory.mktemp("phoenix"))
    try:
        yield server
    finally:
        server.stop()


async def whole_trace(ui_url: str, trace_id: str) -> list[dict[str, Any]]:
    async with asyncio.timeout(ARRIVAL_TIMEOUT_S):
        while True:
            spans = await asyncio.to_thread(trace_spans, ui_url, trace_id)
            if is_whole([span["name"] for span in spans]):
                return spans
            await asyncio.sleep(POLL_S)


@pytest.mark.timeout(300)
async def test_a_message_trace_arrives_whole_in_phoenix(tmp_path: Path, phoenix: LocalServer) -> None:
    ui_url = str(phoenix.info["ui_url"])
    otlp = ("--trace-exporter", "otlp", "--otlp-endpoint", str(phoenix.info["otlp_endpoint"]))
    args = (*otlp, "--processes", "edge/messaging")  # three processes: edge and messaging children
    async with hubbub_up(tmp_path, *args) as ready:
        trace_id = await one_message(ready["ws_url"])
        spans = await whole_trace(ui_url, trace_id)
    by_name = {span["name"]: span for span in spans}
    ids = {name: span["context"]["span_id"] for name, span in by_name.items()}
    assert by_name["edge.receive"]["parent_id"] is None
    assert by_name["router.persist"]["parent_id"] == ids["edge.receive"]
    assert by_name["messaging.store_commit"]["parent_id"] == ids["router.persist"]
    assert by_name["router.fanout"]["parent_id"] == ids["edge.receive"]
    assert by_name["router.ack"]["parent_id"] == ids["edge.receive"]
    assert {s["parent_id"] for s in spans if s["name"] == "edge.push"} == {
        ids["router.fanout"],
        ids["router.ack"],
    }
    services = {span["name"]: span["attributes"]["service.name"] for span in spans}
    assert services == {
        "edge.receive": "hubbub-edge",
        "router.persist": "hubbub-presence-router",
        "messaging.store_commit": "hubbub-messaging",
        "router.fanout": "hubbub-presence-router",
        "router.ack": "hubbub-presence-router",
        "edge.push": "hubbub-edge",
    }
    assert trace_url(ui_url, trace_id).endswith(f"/traces/{trace_id}")
