"""The edge's query and log-in slots: one user's burst of queries waits in its own line, log-ins
have slots of their own and a bounded waiting room (asserted by events, not by time)."""

from __future__ import annotations

import asyncio

import pytest

from edge.actions import QueryKind, ToMessaging
from edge.messaging_client import BoundedSlots, MessagingQueries
from kernel.errors import RateLimited
from protos.client_pb2 import ClientFrame, FetchHistory, ServerFrame

WAIT_S = 10.0


def history(user: str, ref: int) -> ToMessaging:
    frame = ClientFrame(ref=ref, history=FetchHistory(conversation_id=1))
    return ToMessaging(QueryKind.HISTORY, ref, user, frame)


async def test_one_users_burst_of_queries_does_not_hold_every_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    queries = MessagingQueries("", max_in_flight=8, per_user_in_flight=4)
    gate = asyncio.Event()
    started = asyncio.Condition()
    running: list[str] = []

    async def answer(query: ToMessaging) -> list[ServerFrame]:
        async with started:
            running.append(query.user_id)
            started.notify_all()
        if query.user_id == "flooder":
            await gate.wait()
        return [ServerFrame(ref=query.ref)]

    monkeypatch.setattr(queries, "_answer", answer)
    flood = [asyncio.create_task(queries.answer(history("flooder", i))) for i in range(1, 21)]
    async with asyncio.timeout(WAIT_S), started:
        await started.wait_for(lambda: len(running) >= 4)
    async with asyncio.timeout(WAIT_S):
        (reply,) = await queries.answer(history("bystander", 99))
    assert reply.ref == 99
    assert running.count("flooder") == 4, "the flooder's other 16 wait in its own line"
    gate.set()
    async with asyncio.timeout(WAIT_S):
        await asyncio.gather(*flood)
    assert running.count("flooder") == 20
    await queries.close()


async def test_log_in_slots_refuse_fast_once_the_waiting_room_is_full() -> None:
    slots = BoundedSlots(in_flight=1, waiting=1)
    gate = asyncio.Event()

    async def held() -> int:
        await gate.wait()
        return 1

    entered = asyncio.Event()

    async def first_one() -> int:
        entered.set()
        return await held()

    first = asyncio.create_task(slots.run(first_one))
    async with asyncio.timeout(WAIT_S):
        await entered.wait()  # the one slot is taken
    second = asyncio.create_task(slots.run(held))
    await asyncio.sleep(0)  # one turn of the loop: the second task queues for the slot
    assert slots.waiting == 1
    with pytest.raises(RateLimited) as refused:
        await slots.run(held)
    assert refused.value.retry_after_ms > 0
    gate.set()
    assert list(await asyncio.gather(first, second)) == [1, 1]
