"""A minimal OTLP/gRPC trace receiver for tests: what every hubbub process exports lands in
one list, with the service that sent it, so a test can check one message's trace whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    resource_service: str
    attributes: dict[str, str]
    links: list[tuple[str, str]]  # (trace id, span id) of each linked span


class _Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.arrived = asyncio.Condition()

    async def Export(
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            resource_service=resource.get("service.name", ""),
                            attributes={a.key: a.value.string_value for a in span.attributes},
                            links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                        )
                    )
        async with self.arrived:
            self.arrived.notify_all()
        return trace_service_pb2.ExportTraceServiceResponse()


@dataclass
class OtlpSink:
    endpoint: str
    _receiver: _Receiver

    @property
    def spans(self) -> list[ReceivedSpan]:
        return list(self._receiver.spans)

    async def wait_for(
        self, done: Callable[[list[ReceivedSpan]], bool], timeout_s: float = 30.0
    ) -> list[ReceivedSpan]:
        """Wait until `done(spans)` holds (each export wakes the check), then return the spans."""
        async with asyncio.timeout(timeout_s), self._receiver.arrived:
            await self._receiver.arrived.wait_for(lambda: done(self._receiver.spans))
        return self.spans


@asynccontextmanager
async def otlp_sink() -> AsyncIterator[OtlpSink]:
    server = grpc.aio.server()
    receiver = _Receiver()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield OtlpSink(f"http://127.0.0.1:{port}", receiver)
    finally:
        await server.stop(None)
