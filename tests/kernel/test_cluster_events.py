"""Contract of the cluster event bus, run on memory, Redis standalone and Redis Cluster; and,
on Redis only, two processes' buses sharing the channels, and a restart of the server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from deploy.local_servers.redis import RedisNode
from kernel.cluster_events import (
    CONFIG_CHANGED,
    KICK_DEVICE,
    ClusterEvent,
    EventBus,
    EventQueue,
    EventsLost,
    EventStream,
    MemoryEventBus,
)
from kernel.errors import ErrorCode, Unavailable
from kernel.redis_events import RedisEventBus
from tests.redis_servers import REDIS_SETUPS, RedisTarget, redis_target


def kick(user: str) -> ClusterEvent:
    return ClusterEvent(KICK_DEVICE, {"user_id": user, "device_id": "phone"})


async def next_event(stream: EventStream) -> ClusterEvent:
    async with asyncio.timeout(30):
        return await anext(aiter(stream))


@pytest.fixture(params=["memory", *REDIS_SETUPS])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    if request.param == "memory":
        chosen: EventBus = MemoryEventBus()
    else:
        target = redis_target(request, request.param)
        chosen = RedisEventBus.connect(target.url, cluster=target.cluster, namespace=target.namespace)
    yield chosen
    await chosen.close()


async def test_events_reach_the_subscribers_of_their_topic_in_order(bus: EventBus) -> None:
    kicks = await bus.subscribe([KICK_DEVICE], 10)
    both = await bus.subscribe([KICK_DEVICE, CONFIG_CHANGED], 10)
    config = ClusterEvent(CONFIG_CHANGED, {"room": "edge", "drain_period_ms": "5000"})
    await bus.publish(kick("ann"))
    await bus.publish(config)
    await bus.publish(kick("ben"))
    assert [await next_event(kicks), await next_event(kicks)] == [kick("ann"), kick("ben")]
    received = [await next_event(both) for _ in range(3)]
    assert [e for e in received if e.topic == KICK_DEVICE] == [kick("ann"), kick("ben")]
    assert [e for e in received if e.topic == CONFIG_CHANGED] == [config]


async def test_a_slow_subscriber_is_cut_off_and_the_others_carry_on(bus: EventBus) -> None:
    slow, fast = await bus.subscribe([KICK_DEVICE], 2), await bus.subscribe([KICK_DEVICE], 10)
    assert isinstance(slow, EventQueue)
    # Each Redis subscriber reads on its own connection: the fast one holding an event does
    # not mean the slow one's reader has it yet, so publish until the slow one (which never
    # reads) has overflowed, each event once the fast one holds it.
    received: list[str] = []
    for n in range(100):
        await bus.publish(kick(f"u{n}"))
        received.append((await next_event(fast)).payload["user_id"])
        if slow.lost:
            break
    assert received == [f"u{n}" for n in range(len(received))] and len(received) >= 3
    with pytest.raises(EventsLost) as lost:
        async with asyncio.timeout(30):
            async for _ in slow:
                pass
    assert lost.value.code is ErrorCode.SLOW_CONSUMER and lost.value.retryable


async def test_closing_ends_the_streams(bus: EventBus) -> None:
    mine, other = await bus.subscribe([KICK_DEVICE], 10), await bus.subscribe([KICK_DEVICE], 10)
    mine.close()
    await bus.publish(kick("ann"))
    assert await next_event(other) == kick("ann")
    async with asyncio.timeout(30):
        assert [event async for event in mine] == []
    await bus.close()
    async with asyncio.timeout(30):
        assert [event async for event in other] == []


@pytest.fixture(params=REDIS_SETUPS)
def shared(request: pytest.FixtureRequest) -> RedisTarget:
    return redis_target(request, request.param)


async def test_an_event_published_in_one_process_reaches_every_other_once(shared: RedisTarget) -> None:
    buses = [
        RedisEventBus.connect(shared.url, cluster=shared.cluster, namespace=shared.namespace)
        for _ in range(3)
    ]
    try:
        streams = [await bus.subscribe([KICK_DEVICE], 10) for bus in buses]
        await buses[0].publish(kick("ann"))
        await buses[2].publish(kick("ben"))
        for stream in streams:
            assert [await next_event(stream), await next_event(stream)] == [kick("ann"), kick("ben")]
    finally:
        for bus in buses:
            await bus.close()


@pytest.mark.slow
async def test_a_redis_restart_cuts_subscribers_off_and_they_resubscribe(
    redis_restartable: RedisNode,
) -> None:
    bus = RedisEventBus.connect(redis_restartable.url, namespace="restart")
    try:
        stream = await bus.subscribe([KICK_DEVICE], 10)
        began = time.monotonic()
        redis_restartable.restart()
        with pytest.raises(EventsLost):
            await next_event(stream)
        async with asyncio.timeout(30):
            while True:  # the subscriber retries a retryable failure until Redis answers
                try:
                    stream = await bus.subscribe([KICK_DEVICE], 10)
                    break
                except Unavailable:
                    continue
        await bus.publish(kick("ann"))
        assert await next_event(stream) == kick("ann")
        print(f"cluster events recovered from a redis restart in {time.monotonic() - began:.2f} s")
    finally:
        await bus.close()
