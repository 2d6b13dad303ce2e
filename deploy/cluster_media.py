"""The blob server of a cluster: one process serving the local blob store to every edge's
clients, and running the sweep of uploads never sent (it reads messaging's history). The
edges sign its URLs with the key derived from the token secret they share with it
(HUBBUB_TOKEN_SECRET), so any edge's URL passes here. Prints {"media_url": ...} once it serves.

    HUBBUB_TOKEN_SECRET=... HUBBUB_MESSAGING_TARGET=127.0.0.1:7000 \\
    HUBBUB_MEDIA_DATA_DIR=/var/lib/hubbub/media python -m deploy.cluster_media
"""

from __future__ import annotations

from dataclasses import dataclass

from deploy.cluster_process import announce, run_process, until_signalled
from deploy.media_sweep import start_media_sweep
from kernel.clock import SystemClock
from kernel.config import check, from_env
from kernel.media_urls import SignedUrls
from media import LocalBlobStore, start_blob_server
from media.config import ENV_PREFIX, MediaConfig


@dataclass(frozen=True)
class MediaLinks:
    """What the blob server shares with the rest of the cluster (HUBBUB_<FIELD>, as the other
    processes read the same values)."""

    token_secret: str = ""
    """The edges' token secret: the media HMAC key is derived from it. Required."""
    messaging_target: str = ""
    """host:port of messaging, whose history the sweep reads; empty = no sweep."""
    internal_secret: str = ""
    """Shared secret of internal gRPC calls (deploy/config.py); also what messaging and the
    routers present to the internal delete (media/internal_delete.py; empty = refused)."""
    internal_tls_dir: str = ""
    """Mutual TLS material of internal gRPC calls; empty = plaintext."""

    def __post_init__(self) -> None:
        check(bool(self.token_secret), "HUBBUB_TOKEN_SECRET", "set (the edges' token secret)", "")


async def run() -> None:
    config = from_env(MediaConfig, prefix=ENV_PREFIX)
    links = from_env(MediaLinks)
    clock = SystemClock()
    check(config.backend == "local", "media backend", "local on a cluster's blob server", config.backend)
    store = LocalBlobStore(config.data_dir, SignedUrls(config.public_url, links.token_secret))
    server = await start_blob_server(
        store, links.token_secret, config.host, config.port, clock, links.internal_secret
    )
    stop_sweep = start_media_sweep(
        store, config, clock, links.messaging_target, links.internal_secret, links.internal_tls_dir
    )
    try:
        announce({"media_url": config.public_url or f"http://{config.host}:{server.port}"})
        await until_signalled()
    finally:
        await stop_sweep()
        await server.stop()


def main() -> None:
    run_process(run)


if __name__ == "__main__":
    main()
