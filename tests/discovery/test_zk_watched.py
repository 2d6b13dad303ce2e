"""The watcher of a znode's children (discovery/zk_watched.py) on a real ensemble: a refresh
that fails with an error other than a disconnection is retried, not the end of the watch (a
watch that died silently left its process on an old map, with no further updates)."""

from __future__ import annotations

import asyncio

import pytest

from discovery.zk_client import ZkSession
from discovery.zk_paths import ZooKeeperSettings
from discovery.zk_watched import WatchedChildren
from tests.discovery.zk_helpers import STATE_WAIT_S
from tests.log_events import logged

pytestmark = pytest.mark.slow


async def test_a_watch_whose_listing_failed_sees_the_children_once_they_exist(
    zookeeper_settings: ZooKeeperSettings,
) -> None:
    zk = await ZkSession.open(zookeeper_settings)
    path = f"{zookeeper_settings.root}/not-yet"
    changed = asyncio.Event()
    watched = WatchedChildren(zk, path, changed.set)
    try:
        # The parent is not there: the first listing fails with NoNodeError, while connected.
        with logged("discovery.zk_watched", f"watch of {path}: refresh failed") as failed:
            watched.start()
            await asyncio.wait_for(failed.seen.wait(), STATE_WAIT_S)
        await zk.call(zk.client.create_async(f"{path}/a", b"one", makepath=True))
        await asyncio.wait_for(changed.wait(), STATE_WAIT_S)
        assert watched.values == {"a": b"one"}
        # And it is a live watch again: a later change arrives by itself.
        changed.clear()
        await zk.call(zk.client.set_async(f"{path}/a", b"two"))
        await asyncio.wait_for(changed.wait(), STATE_WAIT_S)
        assert watched.values == {"a": b"two"}
    finally:
        watched.stop()
        await zk.close()
