"""A delivered receipt links to the pushes it covers, each once; memory stays bounded."""

from __future__ import annotations

from opentelemetry.trace import SpanContext

from edge.delivery_traces import DeliveryTraces
from protos.client_pb2 import ConversationCursor


def context(span_id: int) -> SpanContext:
    return SpanContext(trace_id=span_id, span_id=span_id, is_remote=False)


def test_a_receipt_links_the_pushes_up_to_its_seq_once() -> None:
    traces = DeliveryTraces()
    for seq in (1, 2, 3):
        traces.pushed({"bob"}, 7, seq, context(seq))
    links = traces.delivered("bob", [ConversationCursor(conversation_id=7, seq=2)])
    assert [link.context.span_id for link in links] == [1, 2]
    assert traces.delivered("bob", [ConversationCursor(conversation_id=7, seq=2)]) == []
    assert traces.delivered("alice", [ConversationCursor(conversation_id=7, seq=3)]) == []
    (last,) = traces.delivered("bob", [ConversationCursor(conversation_id=7, seq=9)])
    assert last.context.span_id == 3


def test_old_entries_are_forgotten() -> None:
    traces = DeliveryTraces(max_keys=2, max_per_key=2)
    for seq in (1, 2, 3):
        traces.pushed({"bob"}, 1, seq, context(seq))
    traces.pushed({"carol"}, 1, 1, context(10))
    traces.pushed({"dave"}, 1, 1, context(11))  # bob's pair is the least recent: forgotten
    assert traces.delivered("bob", [ConversationCursor(conversation_id=1, seq=9)]) == []
    (carol,) = traces.delivered("carol", [ConversationCursor(conversation_id=1, seq=9)])
    assert carol.context.span_id == 10
