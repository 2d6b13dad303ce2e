"""Per-message spans for the router: parented on the W3C context a ClientFrame carried, so a
long-lived Link stream never becomes one endless span. Frames without a trace cost nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping, Sequence

from opentelemetry.trace import Span

from kernel import telemetry
from kernel.telemetry import context_from, inject_into, inject_span, tracer, tracing_enabled

_tracer = tracer("hubbub.router")


def spans_from(
    name: str, carriers: Sequence[Mapping[str, str]]
) -> contextlib.AbstractContextManager[list[Span | None]]:
    """One span per carried context, open for the block (kernel.telemetry.spans_from)."""
    return telemetry.spans_from("hubbub.router", name, carriers)


@contextlib.contextmanager
def span_from(name: str, carrier: Mapping[str, str]) -> Iterator[None]:
    """A current span parented on one frame's context (what `inject` then writes out)."""
    parent = context_from(carrier) if carrier and tracing_enabled() else None
    if parent is None:
        yield
        return
    with _tracer.start_as_current_span(name, context=parent):
        yield


def inject(carrier: MutableMapping[str, str]) -> None:
    inject_into(carrier)


def traced_here() -> dict[str, str]:
    """The current span's context as a new frame's `trace` map (empty when not traced)."""
    carrier: dict[str, str] = {}
    inject_into(carrier)
    return carrier


def inject_each(spans: Sequence[Span | None], carriers: Sequence[MutableMapping[str, str]]) -> None:
    """Hand each span's context on in its own carrier (a batched call's items)."""
    for span, carrier in zip(spans, carriers, strict=True):
        if span is not None:
            inject_span(span, carrier)
