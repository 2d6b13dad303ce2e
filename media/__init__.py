"""Attachments' object store: the blob store backends and the small HTTP server that serves
the embedded one. Clients upload and download here through URLs the edge signs (docs/media.md)."""

from media.http_server import BlobServer, start_blob_server
from media.local_store import LocalBlobStore
from media.memory_store import MemoryBlobStore

__all__ = ["BlobServer", "LocalBlobStore", "MemoryBlobStore", "start_blob_server"]
