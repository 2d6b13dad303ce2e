"""Driver futures to asyncio without a thread per call, with bounded concurrency.

The driver completes a ResponseFuture on its own I/O thread; `add_callbacks` hands the result
to the loop with `call_soon_threadsafe`. A semaphore caps the requests in flight (no unbounded
`execute_async` fan-out): a burst waits its turn on the loop instead of piling onto the
driver's connections. Errors come out mapped (errors.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from cassandra.query import Statement

from kernel.errors import Unavailable
from messaging.store.cassandra.errors import as_store_error

Row = Any  # the driver's named tuples


class Bridge:
    def __init__(self, session: Any, *, max_in_flight: int, timeout_s: float) -> None:
        self._session = session
        self._slots = asyncio.Semaphore(max_in_flight)
        self._timeout_s = timeout_s

    async def execute(self, statement: Statement | str, params: Sequence[Any] | None = None) -> list[Row]:
        """All rows of one statement. Cassandra 1.2 has no paging (statements carry a LIMIT);
        a modern server pages, and the next pages are fetched from the same callbacks. The
        slot is held until the driver is done, even when the caller gives up first; a request
        the driver never settles (its own timeout should) is given up after `2 * timeout_s + 1` s
        as a retryable UNAVAILABLE, and its slot freed, so no caller waits for ever."""
        await self._slots.acquire()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Row]] = loop.create_future()
        rows: list[Row] = []
        try:
            response = self._session.execute_async(statement, params, timeout=self._timeout_s)
        except Exception as exc:
            self._slots.release()
            raise as_store_error(exc) from exc

        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._slots.release()

        def finish(found: list[Row] | None, exc: BaseException | None) -> None:  # on the loop
            release()
            _settle(done, found, exc)

        def page(found: Any) -> None:  # on the driver's I/O thread
            rows.extend(found or ())
            if response.has_more_pages:
                response.start_fetching_next_page()
            else:
                loop.call_soon_threadsafe(finish, rows, None)

        def failed(exc: BaseException) -> None:
            loop.call_soon_threadsafe(finish, None, exc)

        response.add_callbacks(page, failed)
        try:
            async with asyncio.timeout(2 * self._timeout_s + 1):
                return await asyncio.shield(done)
        except TimeoutError:
            release()
            raise Unavailable("cassandra: request not answered") from None
        except Exception as exc:
            raise as_store_error(exc) from exc

    async def execute_all(self, calls: Iterable[tuple[Statement, Sequence[Any]]]) -> list[list[Row]]:
        """Many statements, concurrently within the in-flight bound; results in order. The
        first failure is raised once every call has finished (none is left running)."""
        results = await asyncio.gather(
            *(self.execute(statement, params) for statement, params in calls), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [result for result in results if not isinstance(result, BaseException)]


def _settle(done: asyncio.Future[list[Row]], rows: list[Row] | None, exc: BaseException | None) -> None:
    if done.done():  # the caller was cancelled meanwhile
        return
    if exc is not None:
        done.set_exception(exc)
    else:
        done.set_result(rows or [])
