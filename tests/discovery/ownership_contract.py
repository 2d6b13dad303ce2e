"""The PartitionOwnership contract (kernel/ownership.py), written once for every backend: the
memory one runs it here; the ZooKeeper one (cluster issue) runs the same class against a real
ensemble by subclassing it with its own `backend` fixture and `expire`/`suspend`/`resume`
hooks (a session timeout; a lost connection)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kernel.errors import Conflict, InvalidArgument
from kernel.ownership import (
    Owner,
    OwnershipLost,
    OwnershipSession,
    PartitionMap,
    PartitionOwnership,
    SessionState,
)

P = 8


async def next_map(watch: AsyncIterator[PartitionMap]) -> PartitionMap:
    return await asyncio.wait_for(anext(watch), 10)


def state_of(session: OwnershipSession) -> SessionState:
    return session.state


class OwnershipContract:
    """Subclasses provide `backend` (a fresh service with P partitions) and the session hooks."""

    async def expire(self, backend: PartitionOwnership, router_id: str) -> None:
        raise NotImplementedError

    async def suspend(self, backend: PartitionOwnership, router_id: str) -> None:
        raise NotImplementedError

    async def resume(self, backend: PartitionOwnership, router_id: str) -> None:
        raise NotImplementedError

    async def test_a_claim_names_the_owner_its_target_and_epoch_in_the_map(
        self, backend: PartitionOwnership
    ) -> None:
        session = await backend.open_session("r1", "h:1")
        epoch = await session.claim(3)
        assert epoch >= 1
        current = await backend.current()
        assert current.partitions == P and current.owner(3) == Owner("r1", "h:1", epoch)
        assert await session.claim(3) == epoch, "claiming what it holds is idempotent"

    async def test_epochs_strictly_increase_across_owners(self, backend: PartitionOwnership) -> None:
        r1 = await backend.open_session("r1", "h:1")
        r2 = await backend.open_session("r2", "h:2")
        epochs = [await r1.claim(0)]
        for turn in range(4):
            holder, taker = (r1, r2) if turn % 2 == 0 else (r2, r1)
            await holder.release(0)
            epochs.append(await taker.claim(0))
        assert epochs == sorted(set(epochs)) and len(epochs) == 5
        other = await r1.claim(1)
        assert other >= 1, "epochs are per partition"

    async def test_nobody_takes_a_held_partition_even_from_a_suspended_session(
        self, backend: PartitionOwnership
    ) -> None:
        r1 = await backend.open_session("r1", "h:1")
        r2 = await backend.open_session("r2", "h:2")
        await r1.claim(5)
        with pytest.raises(Conflict):
            await r2.claim(5)
        await self.suspend(backend, "r1")
        assert state_of(r1) is SessionState.SUSPENDED
        with pytest.raises(Conflict):
            await r2.claim(5)  # it may still be writing: only its expiry frees the partition
        with pytest.raises(OwnershipLost):
            await r1.claim(6)  # a suspended session claims nothing
        await self.expire(backend, "r1")
        assert state_of(r1) is SessionState.LOST
        assert (await backend.current()).owner(5) is None
        epoch = await r2.claim(5)
        assert (await backend.current()).owner(5) == Owner("r2", "h:2", epoch)

    async def test_a_resumed_session_keeps_its_claims(self, backend: PartitionOwnership) -> None:
        r1 = await backend.open_session("r1", "h:1")
        epoch = await r1.claim(2)
        changes = r1.state_changes()
        await self.suspend(backend, "r1")
        assert await asyncio.wait_for(anext(changes), 10) is SessionState.SUSPENDED
        await self.resume(backend, "r1")
        assert await asyncio.wait_for(anext(changes), 10) is SessionState.CONNECTED
        assert (await backend.current()).owner(2) == Owner("r1", "h:1", epoch)
        await r1.renew()
        await r1.close()
        assert await asyncio.wait_for(anext(changes), 10) is SessionState.LOST

    async def test_closing_a_session_frees_all_its_claims_at_once(self, backend: PartitionOwnership) -> None:
        r1 = await backend.open_session("r1", "h:1")
        for partition in range(P):
            await r1.claim(partition)
        await r1.close()
        assert all(owner is None for owner in (await backend.current()).owners)
        with pytest.raises(OwnershipLost):
            await r1.renew()

    async def test_the_watch_gives_the_current_map_then_changes_in_order(
        self, backend: PartitionOwnership
    ) -> None:
        r1 = await backend.open_session("r1", "h:1")
        await r1.claim(0)
        watch = backend.watch()
        first = await next_map(watch)
        assert first.owner(0) is not None and first.owner(0).router_id == "r1"  # type: ignore[union-attr]
        versions = [first.version]
        await r1.claim(1)
        versions.append((await next_map(watch)).version)
        await r1.release(0)
        latest = await next_map(watch)
        versions.append(latest.version)
        assert latest.owner(0) is None and latest.owner(1) is not None
        assert versions == sorted(set(versions)), "never out of order, never twice"

    async def test_bad_input_is_refused(self, backend: PartitionOwnership) -> None:
        r1 = await backend.open_session("r1", "h:1")
        with pytest.raises(InvalidArgument):
            await r1.claim(P)
        with pytest.raises(Conflict):
            await backend.open_session("r1", "h:9")  # one live session per router

    async def test_a_claim_rises_above_the_epoch_the_store_sealed(self, backend: PartitionOwnership) -> None:
        r1 = await backend.open_session("r1", "h:1")
        epoch = await r1.claim(4, above=41)
        assert epoch > 41
        assert await r1.claim(4, above=epoch - 1) == epoch, "held above `above`: the same epoch"
        raised = await r1.claim(4, above=epoch)
        assert raised > epoch, "held, but not above what the store sealed: a higher epoch"
        assert (await backend.current()).owner(4) == Owner("r1", "h:1", raised)
        await r1.release(4)
        r2 = await backend.open_session("r2", "h:2")
        assert await r2.claim(4) > raised, "the counter remembers the raised epoch"

    async def test_of_two_concurrent_claims_exactly_one_wins(self, backend: PartitionOwnership) -> None:
        sessions = [await backend.open_session(f"r{i}", f"h:{i}") for i in range(3)]
        results = await asyncio.gather(*(s.claim(7) for s in sessions), return_exceptions=True)
        winners = [r for r in results if isinstance(r, int)]
        assert len(winners) == 1, results
        assert all(isinstance(r, Conflict) for r in results if not isinstance(r, int)), results
        owner = (await backend.current()).owner(7)
        assert owner is not None and owner.epoch == winners[0]

    async def test_a_watcher_sees_a_closed_sessions_partitions_go(self, backend: PartitionOwnership) -> None:
        r1 = await backend.open_session("r1", "h:1")
        await r1.claim(0)
        await r1.claim(1)
        watch = backend.watch()
        latest = await next_map(watch)
        while latest.owner(1) is None:
            latest = await next_map(watch)
        await r1.close()
        while any(latest.owners):
            latest = await next_map(watch)
        assert latest.routers() == {}
