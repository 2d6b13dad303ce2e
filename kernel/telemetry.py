"""OpenTelemetry set-up and trace-context carriage inside frames.

Long-lived streams must not become one endless span: each message carries its own
W3C trace context in the frame's `trace` map, and every hop starts a span from it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from enum import StrEnum

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

log = logging.getLogger(__name__)


class TraceExporter(StrEnum):
    NONE = "none"
    CONSOLE = "console"
    OTLP = "otlp"


SERVICE_NAME = "service.name"

_configured = False
_active: list[SpanProcessor] = []


class ServiceNameOnSpans(SpanProcessor):
    """Copies the process's `service.name` onto every span as an attribute: some trace stores
    (Arize Phoenix) keep span attributes but drop the resource, and would lose which process
    a hop ran in."""

    def __init__(self, service_name: str) -> None:
        self._service_name = service_name

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        span.set_attribute(SERVICE_NAME, self._service_name)

    def on_end(self, span: ReadableSpan) -> None:
        pass


def setup_tracing(
    service_name: str,
    exporter: str,
    otlp_endpoint: str = "http://127.0.0.1:4317",
    sample_ratio: float = 1.0,
) -> None:
    """Install a tracer provider once per process. `none` keeps the no-op API tracer.
    `sample_ratio` is the share of messages traced (decided once, where a trace starts:
    the other hops follow the frame's sampled flag)."""
    global _configured
    kind = TraceExporter(exporter)
    if kind is TraceExporter.NONE or _configured or sample_ratio <= 0:
        return
    span_exporter: SpanExporter
    if kind is TraceExporter.CONSOLE:
        # stderr: a child process's stdout is the pipe its parent reads its addresses from
        # and then stops reading, so spans written there were lost (and filled the pipe).
        span_exporter = ConsoleSpanExporter(out=sys.stderr)
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=otlp_endpoint, insecure=True)
    install_exporter(span_exporter, service_name, sample_ratio=sample_ratio)
    log.info("tracing: %s exporter for %s, sampling %g", kind.value, service_name, sample_ratio)


def install_exporter(
    span_exporter: SpanExporter, service_name: str, *, batch: bool = True, sample_ratio: float = 1.0
) -> SpanProcessor:
    """Send this process's spans to `span_exporter` (tests pass an in-memory one, batch=False).
    OpenTelemetry allows one global provider per process: the first call installs it, later
    calls add their processor to it. Returns the processor, for `stop_exporting`."""
    global _configured
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: service_name}),
            sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
        )
        provider.add_span_processor(ServiceNameOnSpans(service_name))
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
    """Write the current span's context into a frame's `trace` map (no-op when not recording:
    a message left out by sampling carries nothing, so later hops skip their trace work)."""
    span = trace.get_current_span()
    if span.is_recording():
        propagate.inject(carrier)


def inject_span(span: trace.Span, carrier: MutableMapping[str, str]) -> None:
    """Write one (not necessarily current) span's context into a carrier."""
    if span.is_recording():
        propagate.inject(carrier, context=trace.set_span_in_context(span))


def context_from(carrier: Mapping[str, str]) -> otel_context.Context | None:
    """The parent context carried by a frame, or None when it carries none."""
    if not carrier:
        return None
    return propagate.extract(carrier)


@contextlib.contextmanager
def spans_from(
    scope: str, name: str, carriers: Sequence[Mapping[str, str]]
) -> Iterator[list[trace.Span | None]]:
    """One span per carried context (a batch of messages has many parents), all open for the
    duration of the block, so each message's trace shows this hop; yields them in the
    carriers' order (None for one that carried no context). Nothing when not tracing."""
    if not tracing_enabled():
        yield [None] * len(carriers)
        return
    spans: list[trace.Span | None] = []
    for carrier in carriers:
        parent = context_from(carrier) if carrier else None
        spans.append(tracer(scope).start_span(name, context=parent) if parent is not None else None)
    try:
        yield spans
    finally:
        for span in spans:
            if span is not None:
                span.end()


def tracing_enabled() -> bool:
    return _configured
