"""The blob server's internal delete, seen from the other processes of a cluster: messaging and
the routers that write the log remove a deleted message's object through it (they have no
files of their own). Authenticated with the deployment's internal secret (kernel/internal_auth.py,
the same header name as the gRPC metadata), never with a client's signed URL.

    DELETE {internal_url}/internal/objects/{key}     x-hubbub-internal: <secret>
    204: removed; 404: nothing was stored there; 403: the secret is missing or wrong.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from kernel.errors import Unavailable
from kernel.internal_auth import METADATA_KEY

INTERNAL_DELETE_PATH = "/internal/objects/"
TIMEOUT_S = 5.0


class BlobServerRemover:
    """A BlobRemover (messaging/erased_media.py) that asks the blob server at `internal_url`."""

    def __init__(self, internal_url: str, internal_secret: str) -> None:
        self._base = internal_url.rstrip("/")
        self._secret = internal_secret

    async def delete(self, key: str) -> bool:
        url = f"{self._base}{INTERNAL_DELETE_PATH}{quote(key, safe='/')}"
        # One connection per call: deletions are rare, and no client outlives its process.
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
                answer = await client.delete(url, headers={METADATA_KEY: self._secret})
        except httpx.HTTPError as exc:
            raise Unavailable(f"the blob server did not answer the delete: {exc}") from exc
        if answer.status_code == 204:
            return True
        if answer.status_code == 404:
            return False
        raise Unavailable(f"the blob server refused the delete ({answer.status_code}: {answer.text})")
