"""Read-your-writes on one connection: a query sent after a `delivered`/`read` waits until
the router has answered those receipts (their cursors are stored), so a `listConversations`
or `history` right after a `read` sees the new read cursor.

Receipts are answered by the router with CursorsStored or an Error echoing their ref. A hold
lasts at most HOLD_S: a receipt lost with a router link must not stall the queries for good.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from edge.actions import ToMessaging
from protos.client_pb2 import ServerFrame

RECEIPT_KINDS = frozenset({"delivered", "read"})
HOLD_S = 5.0
"""The longest a query waits for its session's unanswered receipts."""


class HeldQueries:
    """The session's receipts in flight (ref -> how many) and the queries sent after them."""

    __slots__ = ("_on_release", "_queries", "_timer", "_waiting")

    def __init__(self, on_release: Callable[[], None]) -> None:
        self._on_release = on_release
        self._waiting: dict[int, int] = {}
        self._queries: list[ToMessaging] = []
        self._timer: asyncio.TimerHandle | None = None

    @property
    def waiting(self) -> bool:
        return bool(self._waiting)

    def sent(self, ref: int) -> None:
        """A receipt frame went to the router."""
        self._waiting[ref] = self._waiting.get(ref, 0) + 1

    def answered(self, frame: ServerFrame) -> None:
        """A frame from the router: the answer to a receipt in flight, or anything else."""
        count = self._waiting.get(frame.ref)
        if count is None or frame.WhichOneof("kind") not in ("cursors_stored", "error"):
            return
        if count > 1:
            self._waiting[frame.ref] = count - 1
        else:
            del self._waiting[frame.ref]

    def hold(self, query: ToMessaging) -> bool:
        """Keep `query` back while receipts are in flight; False = run it now."""
        if not self._waiting and not self._queries:
            return False
        self._queries.append(query)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(HOLD_S, self._expired)
        return True

    def release(self) -> list[ToMessaging]:
        """The queries to run now, in the order they came (none while receipts are in flight)."""
        if self._waiting:
            return []
        queries, self._queries = self._queries, []
        self._cancel_timer()
        return queries

    def clear(self) -> None:
        self._waiting.clear()
        self._queries.clear()
        self._cancel_timer()

    def _expired(self) -> None:
        self._timer = None
        self._waiting.clear()  # given up on: a later answer to them is just forwarded
        self._on_release()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
