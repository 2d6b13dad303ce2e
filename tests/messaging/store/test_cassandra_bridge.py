"""The asyncio bridge of the Cassandra store without a server: results come back from the
driver's own thread, requests in flight never pass the bound, further pages are fetched,
and driver errors arrive as hubbub's (a timeout is a retryable UNAVAILABLE, never an ack)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from cassandra import ConsistencyLevel, InvalidRequest, WriteTimeout, WriteType
from cassandra.cluster import NoHostAvailable

from kernel.errors import ErrorCode, HubbubError, Internal, Unavailable, is_retryable
from messaging.store.cassandra.bridge import Bridge
from messaging.store.cassandra.errors import as_store_error


class FakeResponse:
    """A ResponseFuture completed by the test, from a thread of its own (as the driver's I/O
    thread would), one page per `pages` entry."""

    def __init__(self, pages: list[list[int]] | BaseException) -> None:
        self._pages = pages
        self._page = 0
        self._callbacks: tuple[Callable[[Any], None], Callable[[BaseException], None]] | None = None

    @property
    def has_more_pages(self) -> bool:
        return isinstance(self._pages, list) and self._page < len(self._pages)

    def add_callbacks(self, ok: Callable[[Any], None], failed: Callable[[BaseException], None]) -> None:
        self._callbacks = (ok, failed)

    def start_fetching_next_page(self) -> None:
        self.complete()

    def complete(self) -> None:
        assert self._callbacks is not None
        ok, failed = self._callbacks
        if isinstance(self._pages, BaseException):
            error = self._pages
            threading.Thread(target=failed, args=(error,)).start()
            return
        page = self._pages[self._page]
        self._page += 1
        threading.Thread(target=ok, args=(page,)).start()


class FakeSession:
    def __init__(self, answer: Callable[[], list[list[int]] | BaseException]) -> None:
        self.answer = answer
        self.waiting: asyncio.Queue[FakeResponse] = asyncio.Queue()
        self.in_flight = 0
        self.most_in_flight = 0

    def execute_async(self, statement: Any, params: Sequence[Any] | None, timeout: float) -> FakeResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        response = FakeResponse(self.answer())
        self.waiting.put_nowait(response)
        return response


async def test_results_come_back_from_the_driver_thread_with_every_page() -> None:
    session = FakeSession(lambda: [[1, 2], [3]])
    bridge = Bridge(session, max_in_flight=4, timeout_s=1.0)
    call = asyncio.ensure_future(bridge.execute("SELECT 1"))
    (await session.waiting.get()).complete()
    assert await call == [1, 2, 3]


async def test_no_more_requests_in_flight_than_the_bound() -> None:
    session = FakeSession(lambda: [[0]])
    bridge = Bridge(session, max_in_flight=3, timeout_s=1.0)
    work = [("SELECT 1", ()) for _ in range(10)]
    calls = asyncio.ensure_future(bridge.execute_all(work))
    for _ in range(10):
        response = await session.waiting.get()
        assert session.in_flight <= 3
        session.in_flight -= 1  # answered: its slot is freed once the loop sees the result
        response.complete()
    assert await calls == [[0]] * 10
    assert session.most_in_flight == 3


async def test_a_driver_error_arrives_mapped_and_chained() -> None:
    timeout = WriteTimeout("timed out", consistency=ConsistencyLevel.ONE, write_type=WriteType.SIMPLE)
    session = FakeSession(lambda: timeout)
    bridge = Bridge(session, max_in_flight=1, timeout_s=1.0)
    call = asyncio.ensure_future(bridge.execute("INSERT"))
    (await session.waiting.get()).complete()
    with pytest.raises(Unavailable) as raised:
        await call
    assert raised.value.__cause__ is timeout
    assert is_retryable(raised.value.code)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (NoHostAvailable("none", {}), ErrorCode.UNAVAILABLE),
        (WriteTimeout("t", consistency=1, write_type=WriteType.SIMPLE), ErrorCode.UNAVAILABLE),
        (InvalidRequest("unconfigured columnfamily"), ErrorCode.INTERNAL),
        (Unavailable("already ours"), ErrorCode.UNAVAILABLE),
    ],
)
def test_error_mapping(error: BaseException, code: ErrorCode) -> None:
    mapped = as_store_error(error)
    assert isinstance(mapped, HubbubError)
    assert mapped.code == code
    assert isinstance(mapped, Internal) == (code == ErrorCode.INTERNAL)


async def test_a_caller_that_gives_up_holds_its_slot_until_the_driver_answers() -> None:
    session = FakeSession(lambda: [[7]])
    bridge = Bridge(session, max_in_flight=1, timeout_s=1.0)
    first = asyncio.ensure_future(bridge.execute("SELECT 1"))
    answered_late = await session.waiting.get()
    first.cancel()
    second = asyncio.ensure_future(bridge.execute("SELECT 2"))
    for _ in range(3):  # yields: the second is waiting for the slot, not sent
        await asyncio.sleep(0)
    assert session.waiting.empty()
    answered_late.complete()
    (await session.waiting.get()).complete()
    assert await second == [7]
    assert first.cancelled()
