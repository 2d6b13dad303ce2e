"""One trace per message across every hop (edge receive, router, persist, fan-out, edge push),
carried inside the frames rather than one endless span per stream."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from deploy.single_node import SingleNode
from kernel.telemetry import install_exporter, stop_exporting
from protos import client_pb2 as pb
from tests.e2e.wire_client import WireClient

HOPS = {
    "edge.receive",
    "router.persist",
    "messaging.store_commit",
    "router.fanout",
    "router.ack",
    "edge.push",
}


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    processor = install_exporter(spans, "hubbub-tests", batch=False)
    yield spans
    stop_exporting(processor)


async def test_each_message_is_one_trace_across_the_hops(
    exporter: InMemorySpanExporter, node: SingleNode
) -> None:
    alice = await WireClient.sign_up(node.ws_url, "alice")
    bob = await WireClient.sign_up(node.ws_url, "bob")
    reply = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
    conv = reply.conversation.conversation_id
    exporter.clear()
    for i in range(3):
        await alice.send_text(conv, f"traced {i}", f"t-{i}")
    await bob.messages(3, conv)

    traces: dict[int, set[str]] = defaultdict(set)
    for span in exporter.get_finished_spans():
        assert span.context is not None
        traces[span.context.trace_id].add(span.name)
    complete = [names for names in traces.values() if names >= HOPS]
    assert len(complete) == 3, f"one trace per message with every hop, got {dict(traces)}"
    for c in (alice, bob):
        await c.close()
