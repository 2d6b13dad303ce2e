"""The cluster's Redis killed -9 under steady traffic and started again, empty, on the same port
(it holds the connection registry, presence and the cluster events; no message travels through
it alone). Asserts what users notice: nothing acked lost, nothing stored twice, one order for
every member; the edges restate their live sessions (every member gets live pushes again, on
either edge) and presence is rebuilt (a watcher sees its contact online, then offline when it
leaves). Prints the recovery times (-s)."""

from __future__ import annotations

import asyncio
import time

import pytest

from deploy.cluster.launcher import RunningCluster
from kernel.errors import Unavailable
from protos import client_pb2 as pb
from router.redis_directory import RedisDirectory
from tests.cluster.conftest import populate
from tests.cluster.recovery import LIMIT_S, finish, served_again
from tests.cluster.traffic import Traffic
from tests.e2e.wire_client import WireClient

pytestmark = pytest.mark.slow
WARM_UP_ACKS = 40
AFTER_ACKS = 200  # long enough after the restatement to see whether live pushes came back


def is_status(user_id: str, status: int) -> object:
    return lambda f: f.presence.user_id == user_id and f.presence.status == status


async def contacts(watcher_url: str, watched_url: str) -> tuple[WireClient, WireClient]:
    """Two mutual contacts on different edges (presence is shown to mutual contacts only),
    each having seen the other online."""
    watcher = await WireClient.sign_up(watcher_url, "watcher", device_id="watcher-phone")
    watched = await WireClient.sign_up(watched_url, "watched", device_id="watched-phone")
    for client, other in ((watcher, "watched"), (watched, "watcher")):
        client.keep_alive(2.0)
        await client.request(pb.ClientFrame(contact=pb.ContactRequest(add=other)))
    await watcher.next_push("presence", is_status("watched", pb.PRESENCE_STATUS_ONLINE))  # type: ignore[arg-type]
    return watcher, watched


async def until_placed(registry: RedisDirectory, expected: dict[str, str], since: float) -> float:
    """Seconds from `since` until the registry places every user of `expected` on its edge
    again (Redis offers no event for it: checked every 50 ms, failing after LIMIT_S)."""
    async with asyncio.timeout(LIMIT_S):
        while True:
            try:
                placement = await registry.lookup(expected)
            except Unavailable:  # our own reader, while Redis is coming back
                placement = {}
            if all(set(placement.get(u, {})) == {edge} for u, edge in expected.items()):
                return time.monotonic() - since
            await asyncio.sleep(0.05)  # Redis state has no event to await


async def test_redis_killed_and_restarted_under_traffic_the_edges_restate_and_presence_comes_back(
    cluster: RunningCluster,
) -> None:
    redis = cluster.redis
    assert redis is not None, "the fault cluster runs with its Redis"
    urls = cluster.ws_urls
    population = await populate(cluster)
    watcher, watched = await contacts(urls[0], urls[1])
    registry = RedisDirectory.connect(redis.url)  # the test's own reader of the registry
    traffic = Traffic(population.members, population.conversations)
    where = {m.user_id: m.client.welcome.edge_id for m in population.members}
    where[watched.welcome.user_id] = watched.welcome.edge_id
    assert len(set(where.values())) == 2, f"users on both edges: {where}"
    try:
        traffic.start()
        await traffic.until_acks(WARM_UP_ACKS, LIMIT_S)
        killed_at = time.monotonic()
        redis.server.kill()
        await asyncio.to_thread(redis.restart)  # the same port, empty
        restated = await until_placed(registry, where, killed_at)
        restated_at = killed_at + restated
        # Presence rebuilt: a new device of the watcher is shown its contact online (in its
        # opening snapshot or once the edges' reports rebuilt it), and changes flow again.
        again = await WireClient.with_token(urls[0], watcher.welcome.token, "watcher-tablet")
        await again.next_push("presence", is_status("watched", pb.PRESENCE_STATUS_ONLINE))  # type: ignore[arg-type]
        rebuilt = time.monotonic() - killed_at
        await watched.close()
        await again.next_push("presence", is_status("watched", pb.PRESENCE_STATUS_OFFLINE))  # type: ignore[arg-type]
        await again.close()
        served = await served_again(traffic, killed_at, AFTER_ACKS)
        await finish(
            traffic,
            population.members[1].client,
            f"Redis kill -9 and restart: every session in the registry again after {restated:.2f} s, "
            f"every conversation acked after {served:.2f} s, presence shown again after {rebuilt:.2f} s",
        )
        # Live again on both edges: what others sent once the registry held everyone again
        # reached every member as a push, not only through history.
        missed = {m.user_id: traffic.missed_live_after(m, restated_at) for m in population.members}
        assert not any(missed.values()), f"live pushes missed after the restatement: {missed}"
    finally:
        await population.close()
        for client in (watcher, watched):
            await client.close()
        await registry.close()
