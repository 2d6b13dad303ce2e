"""What the ZooKeeper backend tests do to a session: route it through a cuttable proxy, expire
it as the ensemble would, and wait for the state change that follows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from kazoo.client import KazooClient

from deploy.local_servers.zookeeper import HOST, ZooKeeperEnsemble
from discovery.zk_client import ZkSession
from kernel.ownership import SessionState

STATE_WAIT_S = 30.0


def upstreams(ensemble: ZooKeeperEnsemble) -> list[tuple[str, int]]:
    return [(HOST, node.client_port) for node in ensemble.nodes]


async def wait_for_state(changes: AsyncIterator[SessionState], wanted: SessionState) -> None:
    async def until() -> None:
        async for state in changes:
            if state is wanted:
                return
        raise AssertionError(f"the session ended before it was {wanted.value}")

    await asyncio.wait_for(until(), STATE_WAIT_S)


async def expire_session(hosts: str, zk: ZkSession) -> None:
    """Close `zk`'s session from a second client that takes it over by id and password: what
    the ensemble does when the session times out (its ephemeral znodes go at once)."""
    client_id = (zk.client._session_id, zk.client._session_passwd)

    def close_twin() -> None:
        twin = KazooClient(hosts=hosts, client_id=client_id)
        twin.start(timeout=STATE_WAIT_S)
        twin.stop()
        twin.close()

    await asyncio.to_thread(close_twin)
