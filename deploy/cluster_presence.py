"""The presence process of a cluster (its in-memory backend until the Redis one lands).
Configured from the environment (HUBBUB_<FIELD>, presence/config.py); prints one JSON line
with its target once it serves; runs until SIGTERM/SIGINT.

    HUBBUB_INTERNAL_SECRET=... python -m deploy.cluster_presence
"""

from __future__ import annotations

from deploy.cluster_process import run_process, serve_until_signalled
from kernel.config import from_env
from presence import start_presence
from presence.config import PresenceConfig


async def run() -> None:
    await serve_until_signalled("presence", start_presence(from_env(PresenceConfig)))


def main() -> None:
    run_process(run)


if __name__ == "__main__":
    main()
