"""Where a process without files of its own (a cluster's messaging, a router that writes the
Cassandra log) removes a deleted message's object: the bucket itself with the s3 backend
(every process reaches it, deploy/media_store.py), else the cluster's blob server through its
internal delete (media/internal_delete.py, authenticated with the internal secret). None when
neither is configured: the object is then left to the media sweep."""

from __future__ import annotations

from deploy.media_store import edge_blob_store
from kernel.clock import Clock
from kernel.config import from_env
from media.config import ENV_PREFIX, MediaConfig
from media.internal_delete import BlobServerRemover
from messaging.erased_media import BlobRemover


def blob_remover(config: MediaConfig, internal_secret: str, clock: Clock) -> BlobRemover | None:
    s3 = edge_blob_store(config, clock)
    if s3 is not None:
        return s3
    if config.internal_url and internal_secret:
        return BlobServerRemover(config.internal_url, internal_secret)
    return None


def blob_remover_from_env(internal_secret: str, clock: Clock) -> BlobRemover | None:
    """The remover the HUBBUB_MEDIA_* options (as the blob server reads them) describe."""
    return blob_remover(from_env(MediaConfig, prefix=ENV_PREFIX), internal_secret, clock)
