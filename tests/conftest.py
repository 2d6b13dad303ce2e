"""Suite-wide settings. Tests are scripts: they sign up hundreds of users from 127.0.0.1 and
send, query and create groups as fast as they can. The per-address sign-up limit and the
edge's inbound rate limits are lifted for them (in-process nodes and `hubbub up` children
alike read these); the tests of those limits put the defaults back
(tests/e2e/test_limits.py, `default_limits`)."""

from __future__ import annotations

import os

LIFTED = "1000000"
LIFTED_LIMITS = {
    "HUBBUB_SIGN_UPS_PER_ADDRESS": LIFTED,
    **{
        f"HUBBUB_RATE_{kind}_{what}": LIFTED
        for kind in ("SEND", "RECEIPT", "QUERY", "GROUP")
        for what in ("BURST", "PER_SECOND")
    },
}
for _key, _value in LIFTED_LIMITS.items():
    os.environ.setdefault(_key, _value)

from tests.redis_servers import (  # noqa: E402
    redis_cluster,
    redis_cluster_restartable,
    redis_restartable,
    redis_standalone,
)
from tests.zookeeper_fixtures import zookeeper, zookeeper_settings  # noqa: E402, F401  (fixtures)

__all__ = ["redis_cluster", "redis_cluster_restartable", "redis_restartable", "redis_standalone"]
