"""ZooKeeper for the tests: one 3-node ensemble for the whole run (started once, on free
loopback ports; a server that cannot start fails the run), and settings with a root of each
test's own so tests never see each other's znodes. Fault tests that kill nodes start their
own ensemble (`start_zookeeper`), leaving this one whole."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from deploy.local_servers.zookeeper import ZooKeeperEnsemble, start_zookeeper
from discovery.zk_paths import ZooKeeperSettings

TEST_SESSION_TIMEOUT_S = 8.0
"""Long enough to ride out a loaded machine (no test here waits for a timeout: expiry is
forced; the fault tests, which do wait, choose their own shorter one)."""


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperEnsemble]:
    ensemble = start_zookeeper(tmp_path_factory.mktemp("zookeeper"), nodes=3)
    try:
        yield ensemble
    finally:
        ensemble.stop()


def settings_for(ensemble: ZooKeeperEnsemble, **overrides: float) -> ZooKeeperSettings:
    """Settings on `ensemble` under a fresh root."""
    root = f"/test-{uuid.uuid4().hex[:12]}"
    values: dict[str, float] = {"session_timeout_s": TEST_SESSION_TIMEOUT_S, **overrides}
    return ZooKeeperSettings(hosts=ensemble.hosts, root=root, **values)


@pytest.fixture
def zookeeper_settings(zookeeper: ZooKeeperEnsemble) -> ZooKeeperSettings:
    return settings_for(zookeeper)
