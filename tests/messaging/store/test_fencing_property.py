"""Property on every backend: sends and retries from an old and a new owner, interleaved with
handoffs (each seals the partition at a higher epoch), store every acked message once, with
seqs 1..N and no gap; no write of an epoch older than the seal at its commit is acked, and
every reader sees one order."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.errors import StaleOwner
from kernel.partitions import DEFAULT_PARTITIONS, partition_of
from messaging.model import AppendOutcome
from messaging.store.interface import MessageStore
from messaging.store.memory import MemoryStore
from messaging.store.sqlite import SqliteStore
from tests.messaging.store.contract import make_group, message

CID = 1
PARTITION = partition_of(CID, DEFAULT_PARTITIONS)

# A step: a handoff (None), or a batch of sends (key indexes; a small pool makes retries
# frequent) from the current owner (True) or the one before it (False).
steps = st.lists(
    st.one_of(st.none(), st.tuples(st.booleans(), st.lists(st.integers(0, 7), min_size=1, max_size=4))),
    min_size=1,
    max_size=12,
)


def make_store(backend: str, directory: Path) -> MessageStore:
    return MemoryStore() if backend == "memory" else SqliteStore(directory / "messages.db")


async def scenario(backend: str, plan: list[tuple[bool, list[int]] | None]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = make_store(backend, Path(directory))
        await store.open()
        try:
            await make_group(store, CID)
            epoch = 1
            await store.seal([(PARTITION, epoch)])
            acks: dict[str, list[AppendOutcome]] = {}
            pending: list[asyncio.Future[list[AppendOutcome]]] = []
            sent_at: list[tuple[int, int]] = []  # (writer epoch, sealed epoch when submitted)
            for step in plan:
                if step is None:  # a handoff: the new owner seals before it writes
                    await asyncio.gather(*pending, return_exceptions=True)
                    epoch += 1
                    assert await store.seal([(PARTITION, epoch)]) == []
                    continue
                current, keys = step
                writer = epoch if current else epoch - 1
                batch = [message(CID, "alice", f"k{k}", epoch=writer) for k in keys]
                pending.append(asyncio.ensure_future(store.append(batch)))
                sent_at.append((writer, epoch))
            settled = await asyncio.gather(*pending, return_exceptions=True)
            for (writer, sealed), result in zip(sent_at, settled, strict=True):
                if isinstance(result, BaseException):
                    assert isinstance(result, StaleOwner), result
                    assert writer < sealed  # only a stale owner is refused
                    continue
                assert writer >= sealed  # nothing of a stale owner is acked
                for outcome in result:
                    acks.setdefault(outcome.message.client_msg_id, []).append(outcome)

            for key, outcomes in acks.items():  # each acked message stored once, one answer
                assert len({(o.message.seq, o.message.message_id) for o in outcomes}) == 1, key
            n = await store.last_seq(CID)
            stored = await store.history(CID, anchor_seq=0, direction="after", limit=100, newest_first=False)
            assert [m.seq for m in stored] == list(range(1, n + 1))
            assert {m.client_msg_id: m.seq for m in stored} == {k: o[0].message.seq for k, o in acks.items()}
            newest = await store.history(CID, anchor_seq=0, direction="before", limit=100, newest_first=True)
            assert newest == stored[::-1]  # one order for every reader
        finally:
            await store.close()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
@settings(max_examples=25, deadline=None)
@given(plan=steps)
def test_handoffs_fence_the_old_owner_and_store_every_ack_once(
    backend: str, plan: list[tuple[bool, list[int]] | None]
) -> None:
    asyncio.run(scenario(backend, plan))
