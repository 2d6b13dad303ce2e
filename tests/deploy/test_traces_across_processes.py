"""One trace per message across every process of `hubbub up`, whatever the layout: the
spans the children export arrive beside the parent's, parented hop to hop, each naming its
process (`service.name` as a span attribute too, for stores that drop the resource)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from protos import client_pb2 as pb
from tests.e2e.wire_client import WireClient
from tests.otlp_sink import OtlpSink, ReceivedSpan, otlp_sink

ROOT = Path(__file__).resolve().parents[2]
HOPS = {
    "edge.receive",
    "router.persist",
    "messaging.store_commit",
    "router.fanout",
    "router.ack",
    "edge.push",
}


@asynccontextmanager
async def hubbub_up(tmp_path: Path, *args: str) -> AsyncIterator[dict[str, Any]]:
    env = dict(os.environ, OTEL_BSP_SCHEDULE_DELAY="100")  # export within 0.1 s, not 5 s
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.cli", "up", "--ready-json", "--data-dir", str(tmp_path / "data"),
        "--ws-port", "0", "--gateway-port", "0", "--discovery-port", "0",
        "--password-hash-time-cost", "1", "--password-hash-memory-kib", "8",
        "--password-hash-parallelism", "1",
        *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(60):
            line = await proc.stdout.readline()
        assert line, "hubbub up exited before it was ready"
        yield json.loads(line)
    finally:
        if proc.returncode is None:
            proc.terminate()
            async with asyncio.timeout(30):
                await proc.wait()


async def one_message(ws_url: str) -> None:
    alice = await WireClient.sign_up(ws_url, "alice")
    bob = await WireClient.sign_up(ws_url, "bob")
    reply = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
    conv = reply.conversation.conversation_id
    await alice.send_text(conv, "traced across processes", "t-1")
    await bob.messages(1, conv)
    for client in (alice, bob):
        await client.close()


def message_trace(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """The spans of the trace that went through the store (the message's), once whole."""
    stored = {s.trace_id for s in spans if s.name == "messaging.store_commit"}
    for trace_id in stored:
        in_trace = [s for s in spans if s.trace_id == trace_id]
        names = [s.name for s in in_trace]
        if set(names) >= HOPS and names.count("edge.push") >= 2:
            return in_trace
    return []


def whole(spans: list[ReceivedSpan]) -> bool:
    return bool(message_trace(spans))


def the(
    spans: list[ReceivedSpan], name: str, where: Callable[[ReceivedSpan], bool] = lambda s: True
) -> ReceivedSpan:
    (span,) = [s for s in spans if s.name == name and where(s)]
    return span


@pytest.mark.parametrize(
    ("layout", "services"),
    [
        (
            "edge/messaging",
            {"edge": "hubbub-edge", "router": "hubbub-presence-router", "messaging": "hubbub-messaging"},
        ),
        ("one", {"edge": "hubbub", "router": "hubbub", "messaging": "hubbub"}),
        (
            "messaging/presence+router/edge",
            {"edge": "hubbub-edge", "router": "hubbub-presence-router", "messaging": "hubbub-messaging"},
        ),
    ],
)
async def test_a_message_is_one_trace_across_every_process(
    tmp_path: Path, layout: str, services: dict[str, str]
) -> None:
    async with otlp_sink() as sink:
        await traced_node_sends_one(tmp_path, sink, layout)
        spans = message_trace(await sink.wait_for(whole))
    receive = the(spans, "edge.receive")
    persist = the(spans, "router.persist")
    commit = the(spans, "messaging.store_commit")
    fanout = the(spans, "router.fanout")
    ack = the(spans, "router.ack")
    assert receive.parent_id == ""  # the client sent no context: the edge starts the trace
    assert persist.parent_id == receive.span_id
    assert commit.parent_id == persist.span_id
    assert fanout.parent_id == receive.span_id and ack.parent_id == receive.span_id
    pushes = {s.parent_id for s in spans if s.name == "edge.push"}
    assert pushes == {fanout.span_id, ack.span_id}  # bob's message and alice's sent ack
    for span in spans:
        room = span.name.split(".")[0]
        assert span.resource_service == services[room], span
        assert span.attributes["service.name"] == services[room], span


async def traced_node_sends_one(tmp_path: Path, sink: OtlpSink, layout: str) -> None:
    args = ("--processes", layout, "--trace-exporter", "otlp", "--otlp-endpoint", sink.endpoint)
    async with hubbub_up(tmp_path, *args) as ready:
        await one_message(ready["ws_url"])
        await sink.wait_for(whole)


async def test_sampling_ratio_zero_traces_nothing(tmp_path: Path) -> None:
    async with otlp_sink() as sink:
        args = ("--trace-exporter", "otlp", "--otlp-endpoint", sink.endpoint, "--trace-sample-ratio", "0")
        async with hubbub_up(tmp_path, *args) as ready:
            await one_message(ready["ws_url"])
        assert sink.spans == []
