"""The messaging process of a cluster: Accounts and Messaging on its store (SQLite here,
until the Cassandra backend lands). Configured from the environment (HUBBUB_<FIELD>,
messaging/config.py); prints one JSON line with its target once it serves; runs until
SIGTERM/SIGINT.

    HUBBUB_DATA_DIR=/var/lib/hubbub HUBBUB_TOKEN_SECRET=... python -m deploy.cluster_messaging
"""

from __future__ import annotations

from deploy.cluster_process import run_process, serve_until_signalled
from kernel.config import from_env
from messaging import start_messaging
from messaging.config import MessagingConfig


async def run() -> None:
    await serve_until_signalled("messaging", start_messaging(from_env(MessagingConfig)))


def main() -> None:
    run_process(run)


if __name__ == "__main__":
    main()
