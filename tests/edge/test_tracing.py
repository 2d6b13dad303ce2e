"""Per-frame spans: edge.receive (its context travels on in the frame) and edge.push
(child of the context the router put in the ServerFrame)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import edge.connection
import edge.router_link
from edge import EdgeService
from kernel import telemetry
from protos import client_pb2 as pb
from protos import router_pb2 as rpb
from tests.edge.client import WsClient
from tests.edge.conftest import Backends

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    # A local provider: OpenTelemetry allows one global provider per process, which other
    # test modules own; the edge only needs its tracers and the enabled flag.
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("hubbub.edge")
    monkeypatch.setattr(edge.connection, "_tracer", tracer)
    monkeypatch.setattr(edge.router_link, "_tracer", tracer)
    monkeypatch.setattr(telemetry, "tracing_enabled", lambda: True)
    yield exporter
    provider.shutdown()


async def test_receive_span_context_travels_to_the_router_and_push_spans_have_the_router_parent(
    spans: InMemorySpanExporter, edge: EdgeService, backends: Backends
) -> None:
    client, welcome = await WsClient.authed(edge.ws_url, "alice")
    frame = pb.ClientFrame(ref=2, send=pb.SendMessage(conversation_id=1, client_msg_id="t", body="traced"))
    frame.trace["traceparent"] = PARENT
    await client.request(frame)
    forwarded = await backends.router.next_item("send")
    (receive,) = [s for s in spans.get_finished_spans() if s.name == "edge.receive"]
    assert receive.context is not None and f"{receive.context.trace_id:032x}" == TRACE_ID
    assert forwarded.frame.trace["traceparent"].split("-")[1:3] == [
        TRACE_ID,
        f"{receive.context.span_id:016x}",
    ]

    pushed = pb.ServerFrame(message=pb.Message(conversation_id=1, seq=9, body="x"))
    pushed.trace["traceparent"] = PARENT
    batch = rpb.RouterBatch(
        items=[rpb.RouterItem(session_ids=[welcome.session_id], frame=pushed.SerializeToString())]
    )
    await backends.router.push(batch)
    assert (await client.recv_kind("message")).message.seq == 9
    # The Sent ack carried no context (the fake router sets none): it gets no root span of its own.
    (push,) = [s for s in spans.get_finished_spans() if s.name == "edge.push"]
    assert push.parent is not None and f"{push.parent.span_id:016x}" == "00f067aa0ba902b7"
    await client.close()
