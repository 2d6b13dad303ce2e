"""Partition ownership on ZooKeeper: kernel.ownership's contract with real sessions.

A router's `OwnershipSession` is one ZooKeeper session. A claim is the ephemeral znode
owners/<p> (it goes when the session expires or closes, and nobody can create it while it
exists: a suspended owner keeps its partitions until the ensemble expires it); its epoch comes
from the persistent counter epochs/<p>, raised and claimed in one multi-op transaction with a
compare-and-set on the counter's version, so epochs only grow, whoever claims. The map is built
from a children watch on owners/ and a data watch on each owner, never by polling; its version
is the zxid of the last change to it (the same map has the same version in every process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from discovery.zk_client import DISCONNECTED, RenewedSession, ZkSession, check_name, unavailable
from discovery.zk_paths import ZooKeeperSettings
from discovery.zk_watched import WatchedChildren, read_children
from kernel.errors import Conflict, InvalidArgument, Unavailable
from kernel.ownership import Owner, OwnershipLost, PartitionMap, SessionState, check_partitions

CLAIM_ATTEMPTS = 20
"""Compare-and-set rounds a claim may lose to other claimers before it gives up (Unavailable)."""


def owner_data(owner: Owner) -> bytes:
    return json.dumps({"router_id": owner.router_id, "target": owner.target, "epoch": owner.epoch}).encode()


def parse_owner(data: bytes) -> Owner | None:
    """An owner znode's value; None for one that is not ours to read (never fatal to a watch)."""
    try:
        fields = json.loads(data)
        return Owner(str(fields["router_id"]), str(fields["target"]), int(fields["epoch"]))
    except (ValueError, KeyError, TypeError):
        return None


class ZkOwnershipSession:
    """One router's ZooKeeper session and its claims."""

    def __init__(self, backend: ZkOwnership, zk: ZkSession, router_id: str, target: str) -> None:
        self._backend = backend
        self._zk = zk
        self._router_id = router_id
        self.target = target

    @property
    def router_id(self) -> str:
        return self._router_id

    @property
    def state(self) -> SessionState:
        return self._zk.state

    @property
    def zk(self) -> ZkSession:
        return self._zk

    def _connected(self) -> None:
        if self._zk.state is not SessionState.CONNECTED:
            raise OwnershipLost(f"session of {self._router_id} is {self._zk.state.value}")

    async def claim(self, partition: int, above: int = 0) -> int:
        self._backend.check(partition)
        self._connected()
        try:
            for _ in range(CLAIM_ATTEMPTS):
                epoch = await self._try_claim(partition, above)
                if epoch is not None:
                    return epoch
                await self._zk.call(self._zk.client.sync_async(self._backend.settings.epochs))
        except DISCONNECTED as error:
            raise OwnershipLost(f"session of {self._router_id} lost ZooKeeper") from error
        raise Unavailable(f"partition {partition}: too many concurrent claims")

    async def _try_claim(self, partition: int, above: int) -> int | None:
        """One compare-and-set round: the new (or held) epoch, or None to try again."""
        zk, paths = self._zk, self._backend.settings
        counter, version = await self._counter(partition)
        epoch = max(counter, above) + 1
        mine = owner_data(Owner(self._router_id, self.target, epoch))
        transaction = zk.client.transaction()
        transaction.set_data(paths.epoch_of(partition), str(epoch).encode(), version=version)
        transaction.create(paths.owner_of(partition), mine, ephemeral=True)
        results = await zk.call(transaction.commit_async())
        if not any(isinstance(r, Exception) for r in results):
            return epoch
        if isinstance(results[0], BadVersionError):
            return None  # another claim raised the counter first
        try:
            data, stat = await zk.call(zk.client.get_async(paths.owner_of(partition)))
        except NoNodeError:
            return None  # its holder has just gone
        if stat.ephemeralOwner != zk.session_id:
            holder = parse_owner(data)
            raise Conflict(f"partition {partition} is held by {holder.router_id if holder else 'another'}")
        held = parse_owner(data)
        if held is not None and held.epoch > above:
            return held.epoch
        # Held, but below what the store has sealed: raise the epoch in place.
        transaction = zk.client.transaction()
        transaction.set_data(paths.epoch_of(partition), str(epoch).encode(), version=version)
        transaction.set_data(paths.owner_of(partition), mine, version=stat.version)
        results = await zk.call(transaction.commit_async())
        return None if any(isinstance(r, Exception) for r in results) else epoch

    async def _counter(self, partition: int) -> tuple[int, int]:
        """The epoch counter's value and znode version (created at 0 the first time)."""
        zk, path = self._zk, self._backend.settings.epoch_of(partition)
        try:
            data, stat = await zk.call(zk.client.get_async(path))
        except NoNodeError:
            with contextlib.suppress(NodeExistsError):
                await zk.call(zk.client.create_async(path, b"0"))
            data, stat = await zk.call(zk.client.get_async(path))
        return int(data or b"0"), int(stat.version)

    async def release(self, partition: int) -> None:
        """Delete the claim if this session holds it. A lost session holds nothing (a no-op);
        a suspended one cannot reach ZooKeeper (OwnershipLost: its claims stay until it
        expires or comes back)."""
        self._backend.check(partition)
        if self._zk.state is SessionState.LOST:
            return
        self._connected()
        zk, path = self._zk, self._backend.settings.owner_of(partition)
        try:
            _, stat = await zk.call(zk.client.get_async(path))
            if stat.ephemeralOwner == zk.session_id:
                await zk.call(zk.client.delete_async(path, version=stat.version))
        except (NoNodeError, BadVersionError):
            return
        except DISCONNECTED as error:
            raise OwnershipLost(f"session of {self._router_id} lost ZooKeeper") from error

    async def renew(self) -> None:
        self._connected()  # kazoo pings by itself; this only says whether it still can

    def state_changes(self) -> AsyncIterator[SessionState]:
        return self._zk.state_changes()

    async def close(self) -> None:
        await self._zk.close()
        if self._backend._sessions.get(self._router_id) is self:
            del self._backend._sessions[self._router_id]


class ZkOwnership:
    """The ownership service on one ensemble. Open with `await ZkOwnership.connect(...)`.
    `hosts_of(router_id)`, when given, is the connect string of that router's session (tests
    route one router through a proxy they can cut). The map is read through a session of its
    own, opened again if it is ever lost (its watches are set again; the map goes on)."""

    def __init__(
        self,
        settings: ZooKeeperSettings,
        partitions: int,
        reader: RenewedSession,
        hosts_of: Callable[[str], str] | None = None,
    ) -> None:
        check_partitions(partitions)
        self.settings = settings
        self._partitions = partitions
        self._reader = reader
        self._hosts_of = hosts_of
        self._sessions: dict[str, ZkOwnershipSession] = {}
        self._map = PartitionMap.empty(partitions)
        self._waiters: set[asyncio.Event] = set()
        self._owners = WatchedChildren(reader.current, settings.owners, self._owners_changed)
        self._live = WatchedChildren(reader.current, settings.sessions, self._live_changed)
        self._placed = WatchedChildren(reader.current, settings.placements, self._placed_changed)
        reader.on_renewed += [self._owners.rebind, self._live.rebind, self._placed.rebind]
        self._live_waiters: set[asyncio.Event] = set()
        self._placed_waiters: set[asyncio.Event] = set()

    @classmethod
    async def connect(
        cls, settings: ZooKeeperSettings, partitions: int, *, hosts_of: Callable[[str], str] | None = None
    ) -> ZkOwnership:
        reader = await RenewedSession.open(settings)
        try:
            for path in (settings.epochs, settings.owners, settings.sessions, settings.placements):
                await reader.current.call(reader.current.client.ensure_path_async(path))
        except DISCONNECTED as error:
            await reader.close()
            raise unavailable(error) from error
        return cls(settings, partitions, reader, hosts_of)

    @property
    def partitions(self) -> int:
        return self._partitions

    def check(self, partition: int) -> None:
        if not 0 <= partition < self._partitions:
            raise InvalidArgument(f"partition {partition} is outside 0..{self._partitions - 1}")

    @property
    def reader(self) -> RenewedSession:
        """The session the map is read through."""
        return self._reader

    def session(self, router_id: str) -> ZkOwnershipSession | None:
        """The live session this process opened for a router (fault tests reach its client)."""
        return self._sessions.get(router_id)

    async def open_session(self, router_id: str, target: str) -> ZkOwnershipSession:
        if not router_id or not target:
            raise InvalidArgument("a session needs a router id and a target")
        check_name("router id", router_id)
        hosts = self._hosts_of(router_id) if self._hosts_of else self.settings.hosts
        zk = await ZkSession.open(self.settings, hosts)
        try:
            await zk.call(
                zk.client.create_async(self.settings.session_of(router_id), target.encode(), ephemeral=True)
            )
        except NodeExistsError as error:
            await zk.close()
            raise Conflict(f"router {router_id} has a live session already") from error
        except DISCONNECTED as error:
            await zk.close()
            raise unavailable(error) from error
        old = self._sessions.get(router_id)
        if old is not None:  # lost (its znode is gone, or the create above had failed)
            await old.close()
        session = self._sessions[router_id] = ZkOwnershipSession(self, zk, router_id, target)
        return session

    async def current(self) -> PartitionMap:
        """The map now, read after a sync (so it includes every change the leader has made)."""
        try:
            values, version = await read_children(self._reader.current, self.settings.owners)
        except DISCONNECTED as error:
            raise unavailable(error) from error
        return self._make_map(values, version)

    async def watch(self) -> AsyncIterator[PartitionMap]:
        self._owners.start()
        event = asyncio.Event()
        self._waiters.add(event)
        seen = -1
        try:
            while True:
                if self._map.version <= seen or self._map.version == 0:
                    await event.wait()
                    event.clear()
                    continue
                current = self._map  # a slow reader skips to the newest: never out of order
                seen = current.version
                yield current
        finally:
            self._waiters.discard(event)

    async def watch_routers(self) -> AsyncIterator[dict[str, str]]:
        """router id -> Link target of every router with a live session now, then again after
        each change (routers in separate processes balance over it: router/cluster_balance.py)."""
        self._live.start()
        event = asyncio.Event()
        self._live_waiters.add(event)
        seen = 0
        try:
            while True:
                if self._live.version > seen:
                    seen = self._live.version
                    yield {name: data.decode() for name, data in sorted(self._live.values.items())}
                await event.wait()
                event.clear()
        finally:
            self._live_waiters.discard(event)

    def _live_changed(self) -> None:
        for event in self._live_waiters:
            event.set()

    async def live_routers(self) -> dict[str, str]:
        """router id -> Link target of every router with a live session now."""
        try:
            values, _ = await read_children(self._reader.current, self.settings.sessions)
        except DISCONNECTED as error:
            raise unavailable(error) from error
        return {name: data.decode() for name, data in sorted(values.items())}

    # ------------------------------------------------------------------ placements
    async def place(self, partition: int, router_id: str) -> None:
        """An operator's placement: `partition` belongs on `router_id` while that router is
        live (persistent: it outlives every session; the balancers move it there and keep it)."""
        self.check(partition)
        check_name("router id", router_id)
        zk, path = self._reader.current, self.settings.placement_of(partition)
        try:
            try:
                await zk.call(zk.client.create_async(path, router_id.encode()))
            except NodeExistsError:
                await zk.call(zk.client.set_async(path, router_id.encode()))
        except DISCONNECTED as error:
            raise unavailable(error) from error

    async def unplace(self, partition: int) -> None:
        """Forget a placement (the balancers may then move the partition again); idempotent."""
        self.check(partition)
        zk = self._reader.current
        try:
            with contextlib.suppress(NoNodeError):
                await zk.call(zk.client.delete_async(self.settings.placement_of(partition)))
        except DISCONNECTED as error:
            raise unavailable(error) from error

    async def placements(self) -> dict[int, str]:
        """partition -> router id of every placement now."""
        try:
            values, _ = await read_children(self._reader.current, self.settings.placements)
        except DISCONNECTED as error:
            raise unavailable(error) from error
        return self._parse_placements(values)

    async def watch_placements(self) -> AsyncIterator[dict[int, str]]:
        """The placements now, then again after each change (a children and data watch)."""
        self._placed.start()
        event = asyncio.Event()
        self._placed_waiters.add(event)
        seen = 0
        try:
            while True:
                if self._placed.version > seen:
                    seen = self._placed.version
                    yield self._parse_placements(self._placed.values)
                await event.wait()
                event.clear()
        finally:
            self._placed_waiters.discard(event)

    def _placed_changed(self) -> None:
        for event in self._placed_waiters:
            event.set()

    def _parse_placements(self, values: dict[str, bytes]) -> dict[int, str]:
        return {
            int(name): data.decode()
            for name, data in values.items()
            if name.isdigit() and int(name) < self._partitions and data
        }

    async def close(self) -> None:
        self._placed.stop()
        self._live.stop()
        self._owners.stop()
        for session in list(self._sessions.values()):
            await session.close()
        await self._reader.close()

    def _owners_changed(self) -> None:
        self._map = self._make_map(self._owners.values, self._owners.version)
        for event in self._waiters:
            event.set()

    def _make_map(self, values: dict[str, bytes], version: int) -> PartitionMap:
        owners: list[Owner | None] = [None] * self._partitions
        for name, data in values.items():
            if name.isdigit() and int(name) < self._partitions:
                owners[int(name)] = parse_owner(data)
        return PartitionMap(self._partitions, version, tuple(owners))
