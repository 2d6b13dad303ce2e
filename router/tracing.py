"""Per-message spans for the router: parented on the W3C context a ClientFrame carried, so a
long-lived Link stream never becomes one endless span. Frames without a trace cost nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping, Sequence

from kernel.telemetry import context_from, inject_into, tracer, tracing_enabled

_tracer = tracer("hubbub.router")


@contextlib.contextmanager
def spans_from(name: str, carriers: Sequence[Mapping[str, str]]) -> Iterator[None]:
    """One span per carried context (a batch of messages has many parents), all open for the
    duration of the block, so each message's trace shows this hop. Nothing when not tracing."""
    if not tracing_enabled():
        yield
        return
    spans = []
    for carrier in carriers:
        parent = context_from(carrier) if carrier else None
        if parent is not None:
            spans.append(_tracer.start_span(name, context=parent))
    try:
        yield
    finally:
        for span in spans:
            span.end()


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
