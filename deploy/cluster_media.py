"""The blob server of a cluster: one process serving the local blob store to every edge's
clients, and running the sweep of uploads never sent (it reads messaging's history). With
HUBBUB_MEDIA_BACKEND=s3 it serves nothing (clients reach the bucket through presigned URLs)
and sweeps the bucket. The
edges sign its URLs with the key derived from the token secret they share with it
(HUBBUB_TOKEN_SECRET), so any edge's URL passes here. Prints {"media_url": ...} once it serves.

    HUBBUB_TOKEN_SECRET=... HUBBUB_MESSAGING_TARGET=127.0.0.1:7000 \\
    HUBBUB_MEDIA_DATA_DIR=/var/lib/hubbub/media python -m deploy.cluster_media
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from deploy.cluster_process import announce, run_process, until_signalled
from deploy.media_store import edge_blob_store
from deploy.media_sweep import start_media_sweep
from kernel.blob_store import ListedStore
from kernel.clock import Clock, SystemClock
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


@dataclass(frozen=True)
class ClusterMedia:
    """The running media process: the URL the edges hand out, its store, and its stop."""

    media_url: str
    store: ListedStore
    stop: Callable[[], Awaitable[None]]


async def start_cluster_media(config: MediaConfig, links: MediaLinks, clock: Clock) -> ClusterMedia:
    """With backend s3 the clients reach the bucket through presigned URLs: this process only
    sweeps it (uploads never sent). Else the local blob store behind its HTTP server, swept."""
    sweep_links = (links.messaging_target, links.internal_secret, links.internal_tls_dir)
    s3 = edge_blob_store(config, clock)
    if s3 is not None:
        stop_sweep = start_media_sweep(s3, config, clock, *sweep_links)
        return ClusterMedia(config.public_url or config.s3_endpoint, s3, stop_sweep)
    store = LocalBlobStore(config.data_dir, SignedUrls(config.public_url, links.token_secret))
    server = await start_blob_server(
        store, links.token_secret, config.host, config.port, clock, links.internal_secret
    )
    stop_local_sweep = start_media_sweep(store, config, clock, *sweep_links)

    async def stop() -> None:
        await stop_local_sweep()
        await server.stop()

    return ClusterMedia(config.public_url or f"http://{config.host}:{server.port}", store, stop)


async def run() -> None:
    media = await start_cluster_media(
        from_env(MediaConfig, prefix=ENV_PREFIX), from_env(MediaLinks), SystemClock()
    )
    try:
        announce({"media_url": media.media_url})
        await until_signalled()
    finally:
        await media.stop()


def main() -> None:
    run_process(run)


if __name__ == "__main__":
    main()
