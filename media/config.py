"""The media room's options: which object store, where its blob server listens, and the sweep
of uploads never sent. Build with `from_env(MediaConfig, prefix=ENV_PREFIX)` (HUBBUB_MEDIA_<FIELD>)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kernel.config import check, check_choice, default_data_dir
from kernel.limits import MEDIA_RECEIPT_TTL_MS

ENV_PREFIX = "HUBBUB_MEDIA_"
BACKENDS = ("local", "s3")


@dataclass(frozen=True)
class MediaConfig:
    backend: str = "local"
    """"local": files under data_dir, served by hubbub's blob server; "s3": an S3-compatible
    bucket (AWS S3, MinIO, Ceph) that clients reach through presigned URLs (docs/media.md)."""
    data_dir: Path = field(default_factory=lambda: default_data_dir() / "media")
    """Where the local store keeps its objects."""
    host: str = "127.0.0.1"
    """Interface the blob server (local backend) binds."""
    port: int = 0
    """The blob server's port (0 = a free one: clients learn it from the signed URLs)."""
    public_url: str = ""
    """Base URL clients reach the blob server by (default http://HOST:PORT; set it behind a proxy)."""
    internal_url: str = ""
    """Base URL the other processes of a cluster reach the blob server by (e.g.
    http://media:8090), for the internal delete of a deleted message's object
    (media/internal_delete.py); empty = they leave it to the sweep. Unused with backend s3
    (every process reaches the bucket itself)."""
    s3_endpoint: str = ""
    """S3 API endpoint (e.g. http://127.0.0.1:9000 for MinIO); empty = AWS's for s3_region.
    Credentials come from the usual AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
    a profile, an instance role), never from hubbub's options."""
    s3_bucket: str = ""
    """The bucket attachments go to (it must exist); required with backend s3."""
    s3_region: str = "us-east-1"
    """The bucket's region (part of every signature)."""
    sweep_grace_s: float = 86_400.0
    """An object no stored message points to this long after its upload is removed (24 h; at
    least twice MEDIA_RECEIPT_TTL_MS, the time a send may still attach it)."""
    sweep_interval_s: float = 3_600.0
    """How often the sweep walks the store; 0 = never (the sweep is off)."""

    def __post_init__(self) -> None:
        check_choice("media backend", self.backend, BACKENDS)
        check(0 <= self.port <= 65535, "media port", "a port", self.port)
        check(self.backend != "s3" or bool(self.s3_bucket), "media s3_bucket", "set with backend s3", "")
        # A send may point to an upload for MEDIA_RECEIPT_TTL_MS (1 h) after it: the grace is at
        # least twice that, so no object a send may still name (or one in flight) is swept.
        least_s = 2 * MEDIA_RECEIPT_TTL_MS / 1000
        check(self.sweep_grace_s >= least_s, "media sweep_grace_s", f">= {least_s:.0f}", self.sweep_grace_s)
        check(self.sweep_interval_s >= 0, "media sweep_interval_s", ">= 0", self.sweep_interval_s)
