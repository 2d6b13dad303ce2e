"""The messaging process of a cluster: Accounts and Messaging on its store (SQLite here,
until the Cassandra backend lands). Configured from the environment (HUBBUB_<FIELD>,
messaging/config.py); a deleted message's object is removed where the HUBBUB_MEDIA_* options
say (deploy/media_remover.py). Prints one JSON line with its target once it serves; runs until
SIGTERM/SIGINT.

    HUBBUB_DATA_DIR=/var/lib/hubbub HUBBUB_TOKEN_SECRET=... python -m deploy.cluster_messaging
"""

from __future__ import annotations

from deploy.cluster_process import run_process, serve_until_signalled
from deploy.media_remover import blob_remover_from_env
from kernel.clock import SystemClock
from kernel.config import from_env
from messaging import start_messaging
from messaging.config import MessagingConfig


async def run() -> None:
    config = from_env(MessagingConfig)
    clock = SystemClock()
    blobs = blob_remover_from_env(config.internal_secret, clock)
    await serve_until_signalled("messaging", start_messaging(config, clock=clock, blobs=blobs))


def main() -> None:
    run_process(run)


if __name__ == "__main__":
    main()
