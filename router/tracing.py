"""Per-message spans for the router: parented on the W3C context a ClientFrame carried, so a
long-lived Link stream never becomes one endless span. Frames without a trace cost nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping, Sequence

from opentelemetry import trace

from kernel.telemetry import context_from, inject_into, tracer

_tracer = tracer("hubbub.router")


@contextlib.contextmanager
def span_from(name: str, carriers: Sequence[Mapping[str, str]]) -> Iterator[None]:
    """A span parented on the first carried context, linked to the others (a batch has many
    parents). Does nothing when no carrier holds a context."""
    contexts = [ctx for ctx in (context_from(c) for c in carriers if c) if ctx is not None]
    if not contexts:
        yield
        return
    links = [trace.Link(trace.get_current_span(ctx).get_span_context()) for ctx in contexts[1:]]
    with _tracer.start_as_current_span(name, context=contexts[0], links=links):
        yield


def inject(carrier: MutableMapping[str, str]) -> None:
    inject_into(carrier)
