"""Property: any interleaving of concurrent sends and retries to one conversation, through
the service, numbers each distinct message once, 1..N with no gap, and every ack is in history."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.clock import SystemClock
from kernel.ids import SnowflakeGenerator
from messaging.appends import SendItem
from messaging.conversations import Conversations
from messaging.membership import MemberCache
from messaging.messages import Messages
from messaging.model import AppendOutcome, User
from messaging.store.interface import MessageStore
from messaging.store.memory import MemoryStore

SENDERS = ("alice", "bob")
# one send = (sender index, client_msg_id index); a small pool makes retries frequent
sends = st.tuples(st.integers(0, len(SENDERS) - 1), st.integers(0, 9))
# a batch = the sends of one Append call, plus how many times it yields before calling
batches = st.lists(
    st.tuples(st.lists(sends, min_size=1, max_size=6), st.integers(0, 3)), min_size=1, max_size=8
)


def make_store(backend: str, directory: Path) -> MessageStore:
    if backend == "memory":
        return MemoryStore()
    from messaging.store.sqlite import SqliteStore

    return SqliteStore(directory / "messages.db")


async def scenario(backend: str, plan: list[tuple[list[tuple[int, int]], int]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = make_store(backend, Path(directory))
        await store.open()
        try:
            clock = SystemClock()
            ids = SnowflakeGenerator(1, clock)
            members = MemberCache(store, clock, max_size=100, ttl_s=60.0)
            messages = Messages(store, store, ids, clock, members)
            for user_id in SENDERS:
                await store.create_user(User(user_id, user_id, "x", 0))
            created = await Conversations(store, ids, clock, members).create_group("alice", "g", ["bob"])
            cid = created.details.conversation.conversation_id

            async def run(batch: list[tuple[int, int]], yields: int) -> list[tuple[tuple[str, str], object]]:
                for _ in range(yields):
                    await asyncio.sleep(0)  # vary the interleaving, not waiting for anything
                items = [
                    SendItem(SENDERS[s], "d", cid, f"k{k}", "text/plain", f"{s}:{k}", b"") for s, k in batch
                ]
                results = await messages.append(items)
                return [((SENDERS[s], f"k{k}"), r) for (s, k), r in zip(batch, results, strict=True)]

            async with asyncio.timeout(60):
                done = await asyncio.gather(*(run(batch, yields) for batch, yields in plan))

            acks: dict[tuple[str, str], list[AppendOutcome]] = {}
            for key, result in (pair for results in done for pair in results):
                assert isinstance(result, AppendOutcome), result
                acks.setdefault(key, []).append(result)
            for key, outcomes in acks.items():
                assert len({(o.message.seq, o.message.message_id) for o in outcomes}) == 1, key
                assert sum(not o.duplicate for o in outcomes) == 1, key
                assert outcomes[0].message.body == f"{SENDERS.index(key[0])}:{key[1][1:]}"
            n = len(acks)
            assert sorted(o[0].message.seq for o in acks.values()) == list(range(1, n + 1))

            stored = await store.history(cid, anchor_seq=0, direction="after", limit=100, newest_first=False)
            assert [m.seq for m in stored] == list(range(1, n + 1))
            assert {(m.sender_id, m.client_msg_id): m.seq for m in stored} == {
                key: outcomes[0].message.seq for key, outcomes in acks.items()
            }
            assert await store.last_seq(cid) == n
        finally:
            await store.close()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
@settings(max_examples=25, deadline=None)
@given(plan=batches)
def test_concurrent_sends_and_retries_are_gap_free_and_stored_once(
    backend: str, plan: list[tuple[list[tuple[int, int]], int]]
) -> None:
    asyncio.run(scenario(backend, plan))
