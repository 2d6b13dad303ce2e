"""The ZooKeeper ownership backend against the ownership contract, on a real 3-node ensemble.

Each router's session goes through a proxy of its own: cutting it is a lost connection
(SUSPENDED, the claims stay); mending it within the session timeout is a resume; expiry is
the ensemble's own (a second client closes the session by its id, as a timeout would)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from deploy.local_servers.zookeeper import ZooKeeperEnsemble
from discovery.zk_client import ZkSession
from discovery.zk_ownership import ZkOwnership, ZkOwnershipSession
from discovery.zk_paths import ZooKeeperSettings
from kernel.ownership import Owner, PartitionOwnership, SessionState
from tests.cuttable_proxy import CuttableProxy
from tests.discovery.ownership_contract import OwnershipContract, P, next_map
from tests.discovery.zk_helpers import STATE_WAIT_S, expire_session, upstreams, wait_for_state


class Proxies:
    """One cuttable proxy per router, made on first use."""

    def __init__(self, ensemble: ZooKeeperEnsemble) -> None:
        self._upstreams = upstreams(ensemble)
        self.by_router: dict[str, CuttableProxy] = {}

    def hosts_of(self, router_id: str) -> str:
        if router_id not in self.by_router:
            self.by_router[router_id] = CuttableProxy(self._upstreams)
        return self.by_router[router_id].address

    def close(self) -> None:
        for proxy in self.by_router.values():
            proxy.close()


@pytest.fixture
def proxies(zookeeper: ZooKeeperEnsemble) -> Iterator[Proxies]:
    made = Proxies(zookeeper)
    yield made
    made.close()


class TestZkOwnership(OwnershipContract):
    @pytest.fixture
    async def backend(
        self, zookeeper_settings: ZooKeeperSettings, proxies: Proxies
    ) -> AsyncIterator[ZkOwnership]:
        backend = await ZkOwnership.connect(zookeeper_settings, P, hosts_of=proxies.hosts_of)
        self.proxies = proxies
        self.hosts = zookeeper_settings.hosts
        try:
            yield backend
        finally:
            await backend.close()

    def _session(self, backend: PartitionOwnership, router_id: str) -> ZkOwnershipSession:
        assert isinstance(backend, ZkOwnership)
        session = backend.session(router_id)
        assert session is not None
        return session

    async def suspend(self, backend: PartitionOwnership, router_id: str) -> None:
        session = self._session(backend, router_id)
        changes = session.state_changes()
        self.proxies.by_router[router_id].cut()
        await wait_for_state(changes, SessionState.SUSPENDED)

    async def resume(self, backend: PartitionOwnership, router_id: str) -> None:
        session = self._session(backend, router_id)
        changes = session.state_changes()
        self.proxies.by_router[router_id].mend()
        await wait_for_state(changes, SessionState.CONNECTED)

    async def expire(self, backend: PartitionOwnership, router_id: str) -> None:
        session = self._session(backend, router_id)
        changes = session.state_changes()
        await expire_session(self.hosts, session.zk)
        self.proxies.by_router[router_id].mend()  # it hears of its expiry when it reconnects
        await wait_for_state(changes, SessionState.LOST)


async def test_the_map_goes_on_when_the_readers_own_session_expires(
    zookeeper_settings: ZooKeeperSettings,
) -> None:
    backend = await ZkOwnership.connect(zookeeper_settings, P)
    try:
        r1 = await backend.open_session("r1", "h:1")
        watch = backend.watch()
        await r1.claim(0)
        first = await next_map(watch)
        while first.owner(0) is None:
            first = await next_map(watch)
        renewed = asyncio.Event()

        async def on_renewed(_zk: ZkSession) -> None:
            renewed.set()

        backend.reader.on_renewed.append(on_renewed)
        await expire_session(zookeeper_settings.hosts, backend.reader.current)
        await asyncio.wait_for(renewed.wait(), STATE_WAIT_S)
        epoch = await r1.claim(1)
        latest = await next_map(watch)
        while latest.owner(1) is None:
            latest = await next_map(watch)
        assert latest.owner(1) == Owner("r1", "h:1", epoch) and latest.version > first.version
        assert r1.state is SessionState.CONNECTED, "the reader's expiry is not the router's"
    finally:
        await backend.close()


async def test_the_live_routers_are_watched_as_sessions_open_and_close(
    zookeeper_settings: ZooKeeperSettings,
) -> None:
    backend = await ZkOwnership.connect(zookeeper_settings, P)
    try:
        live = backend.watch_routers()
        assert await asyncio.wait_for(anext(live), STATE_WAIT_S) == {}
        r1 = await backend.open_session("r1", "h:1")
        await backend.open_session("r2", "h:2")
        seen = await asyncio.wait_for(anext(live), STATE_WAIT_S)
        while len(seen) < 2:
            seen = await asyncio.wait_for(anext(live), STATE_WAIT_S)
        assert seen == {"r1": "h:1", "r2": "h:2"}
        await r1.close()
        while "r1" in seen:
            seen = await asyncio.wait_for(anext(live), STATE_WAIT_S)
        assert seen == {"r2": "h:2"}
    finally:
        await backend.close()
