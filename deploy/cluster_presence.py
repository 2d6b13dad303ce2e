"""The presence process of a cluster: Redis-backed when `backend` is redis (as `hubbub cluster
up` sets it with its Redis), else in memory.
Configured from the environment (HUBBUB_<FIELD>, presence/config.py; where Redis is, HUBBUB_REDIS_*:
kernel/redis_settings.py); prints one JSON line
with its target once it serves; runs until SIGTERM/SIGINT.

    HUBBUB_INTERNAL_SECRET=... python -m deploy.cluster_presence
"""

from __future__ import annotations

from deploy.backends import presence_backend
from deploy.cluster_process import run_process, serve_until_signalled
from kernel.clock import SystemClock
from kernel.config import from_env
from kernel.redis_settings import ENV_PREFIX as REDIS_ENV_PREFIX
from kernel.redis_settings import RedisSettings
from presence import start_presence
from presence.config import PresenceConfig


async def run() -> None:
    config = from_env(PresenceConfig)
    clock = SystemClock()
    backend = presence_backend(config, from_env(RedisSettings, prefix=REDIS_ENV_PREFIX), clock)
    try:
        await serve_until_signalled("presence", start_presence(config, clock=clock, backend=backend))
    finally:
        if backend is not None:
            await backend.close()


def main() -> None:
    run_process(run)


if __name__ == "__main__":
    main()
