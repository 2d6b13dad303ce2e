"""Links a recipient's `delivered` receipt to the traces of the messages it covers: the edge
remembers, while tracing, the push span of each traced message per (user, conversation), and
the receipt's span links to those up to its seq. Bounded: old entries are forgotten."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from opentelemetry.trace import Link, SpanContext

from protos.client_pb2 import ConversationCursor

MAX_KEYS = 10_000  # (user, conversation) pairs remembered, least recently pushed forgotten first
MAX_PER_KEY = 64  # traced messages remembered per pair (a receipt covers a few at a time)


class DeliveryTraces:
    def __init__(self, max_keys: int = MAX_KEYS, max_per_key: int = MAX_PER_KEY) -> None:
        self._pushed: OrderedDict[tuple[str, int], list[tuple[int, SpanContext]]] = OrderedDict()
        self._max_keys = max_keys
        self._max_per_key = max_per_key

    def pushed(self, users: Iterable[str], conversation_id: int, seq: int, context: SpanContext) -> None:
        for user in users:
            key = (user, conversation_id)
            entries = self._pushed.get(key)
            if entries is None:
                entries = self._pushed[key] = []
                if len(self._pushed) > self._max_keys:
                    self._pushed.popitem(last=False)
            else:
                self._pushed.move_to_end(key)
            entries.append((seq, context))
            if len(entries) > self._max_per_key:
                del entries[0]

    def delivered(self, user: str, cursors: Iterable[ConversationCursor]) -> list[Link]:
        """Links to the pushes this receipt covers (each linked once: then forgotten)."""
        links: list[Link] = []
        for cursor in cursors:
            key = (user, cursor.conversation_id)
            entries = self._pushed.get(key)
            if not entries:
                continue
            links.extend(Link(context) for seq, context in entries if seq <= cursor.seq)
            left = [(seq, context) for seq, context in entries if seq > cursor.seq]
            if left:
                self._pushed[key] = left
            else:
                del self._pushed[key]
        return links
