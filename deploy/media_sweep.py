"""The unsent-upload sweep wired to a store and to messaging over gRPC: what the single node's
blob server and the cluster's (deploy/cluster_media.py) both start beside their store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from kernel.blob_store import ListedStore
from kernel.clock import Clock
from kernel.grpc_server import internal_channel
from media.config import MediaConfig
from media.references import HistoryReferences
from media.sweep import MediaSweep
from protos.messaging_pb2_grpc import MessagingStub


def start_media_sweep(
    store: ListedStore,
    config: MediaConfig,
    clock: Clock,
    messaging_target: str,
    internal_secret: str = "",
    internal_tls_dir: str = "",
) -> Callable[[], Awaitable[None]]:
    """Start the sweep (off when config.sweep_interval_s is 0 or no messaging is known: with
    no history to read, nothing can be proven unsent); returns its stop."""
    if not messaging_target or config.sweep_interval_s <= 0:

        async def nothing() -> None:
            return None

        return nothing
    channel = internal_channel(messaging_target, internal_secret, internal_tls_dir)
    sweep = MediaSweep(
        store, HistoryReferences(MessagingStub(channel)), clock, config.sweep_grace_s, config.sweep_interval_s
    )
    sweep.start()

    async def stop() -> None:
        await sweep.stop()
        await channel.close()

    return stop
