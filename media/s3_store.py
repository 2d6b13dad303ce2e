"""The S3-compatible blob store (AWS S3, MinIO, Ceph): presigned PUT and GET URLs, head,
delete and a listing for the sweep, through boto3 with every network call off the event loop.

boto3 rather than aiobotocore: presigning is local CPU work (no I/O at all), and the only
network calls (head, delete, list) are rare and small, so a thread per call costs nothing while
saving a second HTTP stack (aiohttp) and aiobotocore's tight pin on botocore, which moto's
server (the test double) also pins. What S3 checks and what hubbub checks: docs/media.md."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from kernel.blob_store import BlobInfo, StoredObject
from kernel.clock import Clock, SystemClock
from kernel.errors import Unavailable
from kernel.limits import MEDIA_DOWNLOAD_TTL_MS
from kernel.media_urls import UploadGrant

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ListObjectsV2OutputTypeDef

LIST_PAGE = 1000
"""Keys per ListObjectsV2 page (S3's own maximum)."""


class S3BlobStore:
    """A bucket as a BlobStore. The client carries endpoint, region and credentials
    (media.config.S3Settings builds it); the store adds the bucket and the rules."""

    def __init__(self, client: S3Client, bucket: str, clock: Clock | None = None) -> None:
        self._client = client
        self.bucket = bucket
        self.clock: Clock = clock or SystemClock()

    def upload_url(self, grant: UploadGrant) -> str:
        """A presigned PUT: Content-Type and Content-Length are signed headers, so S3 refuses
        (403 SignatureDoesNotMatch) a PUT of another type or length, or to another key."""
        left_ms = grant.expires_at_ms - self.clock.now_ms()
        params = {
            "Bucket": self.bucket,
            "Key": grant.key,
            "ContentType": grant.content_type,
            "ContentLength": grant.size_bytes,
        }
        return self._presign("put_object", params, max(1, math.ceil(left_ms / 1000)))

    def download_url(self, key: str, now_ms: int) -> tuple[str, int]:
        url = self._presign("get_object", {"Bucket": self.bucket, "Key": key}, MEDIA_DOWNLOAD_TTL_MS // 1000)
        return url, now_ms + MEDIA_DOWNLOAD_TTL_MS

    def _presign(self, operation: str, params: dict[str, object], expires_s: int) -> str:
        try:
            return self._client.generate_presigned_url(operation, Params=params, ExpiresIn=expires_s)
        except BotoCoreError as exc:  # no credentials found, most likely: the client hears UNAVAILABLE
            raise Unavailable("the object store's URLs cannot be signed (credentials?)") from exc

    async def head(self, key: str) -> BlobInfo | None:
        try:
            answer = await asyncio.to_thread(self._client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise Unavailable(f"the object store answered {_status(exc)} to head") from exc
        except BotoCoreError as exc:
            raise Unavailable("the object store cannot be reached") from exc
        content_type = answer.get("ContentType", "").split(";")[0].strip()
        stored_at_ms = int(answer["LastModified"].timestamp() * 1000)
        return BlobInfo(key, content_type, answer["ContentLength"], stored_at_ms)

    async def delete(self, key: str) -> bool:
        # S3's DeleteObject succeeds whether or not the key exists: head says which it was.
        found = await self.head(key) is not None
        try:
            await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable("the object store refused the delete") from exc
        return found

    async def stored_objects(self) -> AsyncIterator[StoredObject]:
        token = ""
        while True:
            page = await asyncio.to_thread(self._list_page, token)
            for item in page.get("Contents", []):
                stored_at_ms = int(item["LastModified"].timestamp() * 1000)
                yield StoredObject(item["Key"], stored_at_ms)
            token = page.get("NextContinuationToken", "")
            if not token:
                return

    def _list_page(self, token: str) -> ListObjectsV2OutputTypeDef:
        bucket, client = self.bucket, self._client
        try:
            if token:
                return client.list_objects_v2(Bucket=bucket, MaxKeys=LIST_PAGE, ContinuationToken=token)
            return client.list_objects_v2(Bucket=bucket, MaxKeys=LIST_PAGE)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable("the object store refused the listing") from exc


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
