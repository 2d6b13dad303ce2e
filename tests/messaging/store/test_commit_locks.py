"""The named locks concurrent Cassandra commits hold (messaging/store/cassandra/commit_locks.py)."""

from __future__ import annotations

import asyncio

from messaging.store.cassandra.commit_locks import CommitLocks


async def test_a_commit_waits_for_one_holding_a_name_it_needs_and_not_for_others() -> None:
    locks = CommitLocks()
    order: list[str] = []
    first_holds, release_first = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with locks.hold(["conversation 1", "key a"]):
            first_holds.set()
            await release_first.wait()
            order.append("first done")

    async def commit(name: str, names: list[str]) -> None:
        async with locks.hold(names):
            order.append(name)

    holder = asyncio.create_task(first())
    await first_holds.wait()
    await commit("other conversation", ["conversation 2", "key b"])  # runs beside the first
    waiting = asyncio.create_task(commit("same key", ["conversation 3", "key a"]))
    await asyncio.sleep(0)  # let it reach the lock: it must not get past it
    assert order == ["other conversation"]
    release_first.set()
    await asyncio.gather(holder, waiting)
    assert order == ["other conversation", "first done", "same key"]
    assert len(locks) == 0, "no lock outlives its users"


async def test_opposite_orders_do_not_deadlock_and_a_cancelled_waiter_frees_its_names() -> None:
    locks = CommitLocks()
    done: list[int] = []

    async def commit(index: int, names: list[str]) -> None:
        async with locks.hold(names):
            await asyncio.sleep(0)
            done.append(index)

    await asyncio.gather(*(commit(i, ["a", "b"] if i % 2 else ["b", "a"]) for i in range(20)))
    assert sorted(done) == list(range(20))

    held = asyncio.Event()

    async def holder() -> None:
        async with locks.hold(["a"]):
            held.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(holder())
    await held.wait()
    waiter = asyncio.create_task(commit(99, ["a", "c"]))
    await asyncio.sleep(0)
    waiter.cancel()
    task.cancel()
    await asyncio.gather(task, waiter, return_exceptions=True)
    assert len(locks) == 0 and 99 not in done
