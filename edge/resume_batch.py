"""Resumes on their way to messaging, sent together: the resumes that arrive while calls are in
flight wait and go in the next call (Messaging.ResumeMany), so a reconnect storm of thousands
costs tens of calls instead of thousands (each unary gRPC call costs ~500 µs of CPU)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from kernel.errors import Internal, Unavailable, error_from_code
from kernel.limits import MAX_RESUME_BATCH, MAX_RESUME_BATCH_REQUEST_BYTES
from protos.messaging_pb2 import ResumeReply, ResumeRequest, ResumeRequests, ResumeResults

RESUME_CALLS_IN_FLIGHT = 2
"""ResumeMany calls at a time: one is read at messaging while the edge writes the other's
frames. The resumes waiting behind them are bounded by the edge's query slots."""

SendBatch = Callable[[ResumeRequests], Awaitable[ResumeResults]]


class _Waiting(NamedTuple):
    request: ResumeRequest
    size: int
    answer: asyncio.Future[ResumeReply]


class ResumeBatches:
    """`resume` answers one request as Messaging.Resume would, through batched calls of
    `send`. Order is kept per batch (the replies come back in request order) and a resume
    the batch left out goes first in the next one; a refused item fails alone, a failed call
    fails the resumes it carried (with the call's error), and a caller that goes away (its
    connection closed) is dropped before its request is sent."""

    def __init__(
        self,
        send: SendBatch,
        *,
        calls_in_flight: int = RESUME_CALLS_IN_FLIGHT,
        max_batch: int = MAX_RESUME_BATCH,
        max_request_bytes: int = MAX_RESUME_BATCH_REQUEST_BYTES,
    ) -> None:
        self._send = send
        self._calls_in_flight = calls_in_flight
        self._max_batch = max_batch
        self._max_request_bytes = max_request_bytes
        self._waiting: deque[_Waiting] = deque()
        self._calls: dict[asyncio.Task[None], list[_Waiting]] = {}  # each call and what it carries
        self.batches_sent = 0
        self._closed = False

    async def close(self) -> None:
        """Stop: calls in flight are cancelled, and every resume waiting fails UNAVAILABLE."""
        self._closed = True
        waiting, self._waiting = list(self._waiting), deque()
        _fail(waiting, Unavailable("service unavailable, retry"))
        calls = list(self._calls.items())
        for task, batch in calls:
            task.cancel()
            # A call cancelled before its first step never runs its own failure path.
            _fail(batch, Unavailable("service unavailable, retry"))
        await asyncio.gather(*(task for task, _ in calls), return_exceptions=True)

    async def resume(self, request: ResumeRequest) -> ResumeReply:
        if self._closed:
            raise Unavailable("service unavailable, retry")
        answer: asyncio.Future[ResumeReply] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(request, request.ByteSize(), answer))
        self._start_calls()
        return await answer

    def _start_calls(self) -> None:
        while not self._closed and len(self._calls) < self._calls_in_flight:
            batch = self._next_batch()
            if not batch:
                return
            task = asyncio.get_running_loop().create_task(self._call(batch))
            self._calls[task] = batch
            task.add_done_callback(self._forget)

    def _next_batch(self) -> list[_Waiting]:
        """The longest run from the front within the count and byte bounds (at least one)."""
        batch: list[_Waiting] = []
        size = 0
        while self._waiting and len(batch) < self._max_batch:
            waiting = self._waiting[0]
            if waiting.answer.done():  # its caller went away
                self._waiting.popleft()
                continue
            if batch and size + waiting.size > self._max_request_bytes:
                break
            batch.append(self._waiting.popleft())
            size += waiting.size
        return batch

    async def _call(self, batch: list[_Waiting]) -> None:
        try:
            self.batches_sent += 1
            try:
                results = await self._send(ResumeRequests(requests=[w.request for w in batch]))
            except Exception as exc:  # noqa: BLE001 - the call's error is each resume's
                _fail(batch, exc)
                return
            except BaseException:  # cancelled (the edge stops): nobody may wait forever
                _fail(batch, Unavailable("service unavailable, retry"))
                raise
            answered = results.results[: len(batch)]
            if not answered:  # messaging always answers the first; never loop on nothing
                _fail(batch, Internal("internal error"))
                return
            for waiting, result in zip(batch, answered, strict=False):
                if waiting.answer.done():
                    continue
                if result.WhichOneof("outcome") == "error":
                    waiting.answer.set_exception(error_from_code(result.error.code, result.error.message))
                else:
                    waiting.answer.set_result(result.reply)
            self._waiting.extendleft(reversed(batch[len(answered) :]))  # first in the next call
        finally:
            this = asyncio.current_task()
            if this is not None:
                self._forget(this)  # before its done-callback: its place is free now
            if self._closed:  # what this call left out has no next call
                left, self._waiting = list(self._waiting), deque()
                _fail(left, Unavailable("service unavailable, retry"))
            self._start_calls()

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._calls.pop(task, None)


def _fail(batch: list[_Waiting], error: Exception) -> None:
    for waiting in batch:
        if not waiting.answer.done():
            waiting.answer.set_exception(error)
