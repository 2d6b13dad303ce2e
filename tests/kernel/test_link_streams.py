"""The local Link (kernel/link_streams.py) against a stand-in router pump: a router that stops
taking batches makes the edge's writes wait (so the edge's own bounded queue fills, as gRPC's
flow control makes it); closing ends the router's side; the registry leaves a newer router be."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from kernel import link_streams
from kernel.link_streams import LOCAL_INBOX_BATCHES, LocalLinkStream
from protos.router_pb2 import EdgeBatch, RouterBatch, RouterItem

WAIT_S = 30.0


class StallingRouter:
    """Takes one batch, then reads no more until `resume` is set; answers nothing."""

    def __init__(self) -> None:
        self.taken: list[EdgeBatch] = []
        self.resume = asyncio.Event()
        self.ended = asyncio.Event()  # its side of the link was cleaned up

    async def pump(self, batches: AsyncIterator[EdgeBatch]) -> AsyncGenerator[RouterBatch, None]:
        async def read() -> None:
            async for batch in batches:
                self.taken.append(batch)
                await self.resume.wait()

        reader = asyncio.create_task(read())
        try:
            await reader  # ends when the edge's side does
            yield RouterBatch()  # never reached while the edge keeps its link
        finally:
            reader.cancel()
            self.ended.set()


def batch(n: int) -> bytes:
    return EdgeBatch(edge_id=f"e{n}").SerializeToString()


async def first_batch(stream: LocalLinkStream) -> RouterBatch:
    """What the edge's reader does: iterate the stream (which drives the router's side)."""
    return await anext(aiter(stream))


async def loop_turns(count: int = 20) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_writes_wait_while_the_router_takes_nothing_and_go_on_when_it_reads() -> None:
    router = StallingRouter()
    stream = LocalLinkStream(router.pump)
    reading = asyncio.create_task(first_batch(stream))
    try:
        for n in range(1 + LOCAL_INBOX_BATCHES):  # one taken, the rest waiting in the inbox
            await stream.write(batch(n))
        await loop_turns()
        assert len(router.taken) == 1
        blocked = asyncio.create_task(stream.write(batch(99)))
        await loop_turns()
        assert not blocked.done(), "a router that stops reading holds the edge's next write"
        router.resume.set()
        async with asyncio.timeout(WAIT_S):
            await blocked
        assert [b.edge_id for b in router.taken][:2] == ["e0", "e1"]
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        await stream.close()


class AnsweringRouter:
    """Answers each batch with one RouterBatch; `ended` once its side was cleaned up."""

    def __init__(self) -> None:
        self.ended = asyncio.Event()

    async def pump(self, batches: AsyncIterator[EdgeBatch]) -> AsyncGenerator[RouterBatch, None]:
        try:
            async for _ in batches:
                yield RouterBatch()
        finally:
            self.ended.set()


async def test_closing_ends_the_routers_side_and_later_writes_fail() -> None:
    """The edge's reader holds a batch (outside the router's side, which waits at its yield)
    when the link ends: nothing but close can end the router's side, and it must."""
    router = AnsweringRouter()
    stream = LocalLinkStream(router.pump)
    await stream.write(batch(1))
    async with asyncio.timeout(WAIT_S):
        await first_batch(stream)  # the router's side now waits at its yield
    assert not router.ended.is_set()
    await stream.close()
    assert router.ended.is_set(), "the router's cleanup ran before close returned"
    with pytest.raises(ConnectionError):
        await stream.write(batch(2))


async def test_router_batches_reach_the_edge_as_the_objects_the_router_built() -> None:
    sent = RouterBatch(items=[RouterItem(session_ids=[1], frame=b"x")])

    async def echo(batches: AsyncIterator[EdgeBatch]) -> AsyncGenerator[RouterBatch, None]:
        async for _ in batches:
            yield sent

    stream = LocalLinkStream(echo)
    await stream.write(batch(1))
    async with asyncio.timeout(WAIT_S):
        got = await first_batch(stream)
    assert got is sent, "no serialization on the way"
    await stream.close()


def test_the_registry_takes_back_only_its_own_entry() -> None:
    async def first(batches: AsyncIterator[EdgeBatch]) -> AsyncGenerator[RouterBatch, None]:
        yield RouterBatch()

    async def second(batches: AsyncIterator[EdgeBatch]) -> AsyncGenerator[RouterBatch, None]:
        yield RouterBatch()

    take_back_first = link_streams.register("127.0.0.1:1", first)
    take_back_second = link_streams.register("127.0.0.1:1", second)  # a restarted router
    take_back_first()
    assert link_streams.local_pump("127.0.0.1:1") is second
    take_back_second()
    assert link_streams.local_pump("127.0.0.1:1") is None
