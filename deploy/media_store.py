"""The object store an edge signs for, chosen by the media room's config: None for the
local backend (the blob server at HUBBUB_MEDIA_URL signs and receipts), an S3BlobStore for s3."""

from __future__ import annotations

from kernel.clock import Clock
from media.config import MediaConfig
from media.s3_store import S3BlobStore


def edge_blob_store(config: MediaConfig, clock: Clock) -> S3BlobStore | None:
    if config.backend != "s3":
        return None
    import boto3
    from botocore.config import Config

    # Credentials: boto3's own chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile,
    # an instance role); path-style addressing, which MinIO and Ceph want and AWS accepts.
    # A session of its own, not boto3's process-wide default one, which keeps the credentials
    # it found first for every later client.
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=config.s3_endpoint or None,
        region_name=config.s3_region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    return S3BlobStore(client, config.s3_bucket, clock)
