"""OpenTelemetry set-up and trace-context carriage inside frames.

Long-lived streams must not become one endless span: each message carries its own
W3C trace context in the frame's `trace` map, and every hop starts a span from it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from enum import StrEnum

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

log = logging.getLogger(__name__)


class TraceExporter(StrEnum):
    NONE = "none"
    CONSOLE = "console"
    OTLP = "otlp"


_configured = False
_active: list[SpanProcessor] = []


def setup_tracing(service_name: str, exporter: str, otlp_endpoint: str = "http://127.0.0.1:4317") -> None:
    """Install a tracer provider once per process. `none` keeps the no-op API tracer."""
    global _configured
    kind = TraceExporter(exporter)
    if kind is TraceExporter.NONE or _configured:
        return
    span_exporter: SpanExporter
    if kind is TraceExporter.CONSOLE:
        span_exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=otlp_endpoint, insecure=True)
    install_exporter(span_exporter, service_name)
    log.info("tracing: %s exporter for %s", kind.value, service_name)


def install_exporter(span_exporter: SpanExporter, service_name: str, *, batch: bool = True) -> SpanProcessor:
    """Send this process's spans to `span_exporter` (tests pass an in-memory one, batch=False).
    OpenTelemetry allows one global provider per process: the first call installs it, later
    calls add their processor to it. Returns the processor, for `stop_exporting`."""
    global _configured
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        trace.set_tracer_provider(provider)
    processor = BatchSpanProcessor(span_exporter) if batch else SimpleSpanProcessor(span_exporter)
    provider.add_span_processor(processor)
    _active.append(processor)
    _configured = True
    return processor


def stop_exporting(processor: SpanProcessor) -> None:
    """Flush and stop one exporter; with none left, hot paths go back to skipping trace work."""
    global _configured
    processor.shutdown()
    if processor in _active:
        _active.remove(processor)
    _configured = bool(_active)


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject_into(carrier: MutableMapping[str, str]) -> None:
    """Write the current span's context into a frame's `trace` map (no-op when not recording)."""
    span = trace.get_current_span()
    if span.get_span_context().is_valid:
        propagate.inject(carrier)


def context_from(carrier: Mapping[str, str]) -> otel_context.Context | None:
    """The parent context carried by a frame, or None when it carries none."""
    if not carrier:
        return None
    return propagate.extract(carrier)


def tracing_enabled() -> bool:
    return _configured
