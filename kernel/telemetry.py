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
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

log = logging.getLogger(__name__)


class TraceExporter(StrEnum):
    NONE = "none"
    CONSOLE = "console"
    OTLP = "otlp"


_configured = False


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
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    _configured = True
    log.info("tracing: %s exporter for %s", kind.value, service_name)


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
