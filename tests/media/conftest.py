"""moto's S3 server for the media tests: one per session (started only when a test asks), and
a fresh bucket per test so tests never meet."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from deploy.local_servers.moto_s3 import S3Server, start_moto_s3
from kernel.clock import ManualClock
from media.s3_store import S3BlobStore


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_moto_s3(tmp_path_factory.mktemp("moto-s3"))
    yield server
    server.stop()


@pytest.fixture
def s3_store(moto_s3: S3Server) -> S3BlobStore:
    client = moto_s3.client()
    bucket = f"hubbub-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return S3BlobStore(client, bucket, ManualClock())
