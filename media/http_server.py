"""The blob server: a small asyncio HTTP/1.1 server that takes uploads and serves downloads
of the local blob store, through URLs the edge signed (one request per connection).

No byte is stored before the URL, its signature and expiry, the declared Content-Type and
Content-Length are checked; the body is counted as it streams (media.writable.counted)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from asyncio import StreamReader, StreamWriter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import unquote

import orjson

from kernel.blob_store import BlobInfo
from kernel.clock import Clock, SystemClock
from kernel.errors import (
    Conflict,
    ErrorCode,
    HubbubError,
    InvalidArgument,
    NotFound,
    TooLarge,
    Unauthenticated,
)
from kernel.internal_auth import METADATA_KEY
from kernel.limits import MAX_BLOB_CONNECTIONS
from kernel.media_urls import (
    DOWNLOAD_PATH,
    UPLOAD_PATH,
    key_owner,
    media_key,
    receipt,
    verify_download,
    verify_upload,
)
from media.internal_delete import INTERNAL_DELETE_PATH
from media.writable import WritableStore

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024
"""The request line and headers together; a longer head is refused (431)."""
HEAD_TIMEOUT_S = 10.0
BODY_CHUNK_BYTES = 64 * 1024
BODY_IDLE_TIMEOUT_S = 30.0
"""An upload that sends nothing for this long is dropped (its partial body discarded)."""

STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHENTICATED: 403,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.INVALID_ARGUMENT: 400,
    ErrorCode.BAD_FRAME: 400,
}
REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
           431: "Request Header Fields Too Large", 500: "Internal Server Error"}  # fmt: skip
# Signed URLs are the credential: any origin (the web client's) may use them.
CORS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, HEAD, PUT, OPTIONS"),
    ("Access-Control-Allow-Headers", "Content-Type"),
    ("Access-Control-Max-Age", "600"),
)


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]


class BlobServer:
    """Serves `store` on host:port; `url` is its base for SignedUrls. With `internal_secret`,
    the other processes of the deployment may also remove an object (media/internal_delete.py);
    without, that delete is refused to everyone."""

    def __init__(
        self, store: WritableStore, token_secret: str, clock: Clock | None = None, internal_secret: str = ""
    ) -> None:
        self.store = store
        self._key = media_key(token_secret)
        self._internal_secret = internal_secret.encode()
        self._clock = clock or SystemClock()
        self._server: asyncio.Server | None = None
        self._active = 0
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._connection, host, port, limit=MAX_HEAD_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._active >= MAX_BLOB_CONNECTIONS:
            with contextlib.suppress(ConnectionError):
                await _respond(writer, 503, {"code": "UNAVAILABLE", "message": "too many connections"})
            writer.close()
            return
        self._active += 1
        try:
            await self._serve(reader, writer)
        finally:
            self._active -= 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_head(reader)
            if request is None:
                await _respond(writer, 431, {"code": "TOO_LARGE", "message": "request head too large"})
                return
            await self._handle(request, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went away or stalled: nothing to answer
        except Exception:  # a bug: the client hears 500, never a traceback; the server serves on
            log.exception("blob server: request failed")
            with contextlib.suppress(ConnectionError):
                await _respond(writer, 500, {"code": "INTERNAL", "message": "internal error"})
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _handle(self, request: Request, reader: StreamReader, writer: StreamWriter) -> None:
        try:
            if request.method == "OPTIONS":
                await _respond(writer, 204, None)
            elif request.method == "PUT" and request.path.startswith(UPLOAD_PATH):
                await self._upload(request, reader, writer)
            elif request.method in ("GET", "HEAD") and request.path.startswith(DOWNLOAD_PATH):
                await self._download(request, writer)
            elif request.method == "DELETE" and request.path.startswith(INTERNAL_DELETE_PATH):
                await self._internal_delete(request, writer)
            else:
                await _respond(writer, 405 if request.path.startswith("/media/") else 404, None)
        except HubbubError as exc:
            await _respond(
                writer, STATUS.get(exc.code, 500), {"code": exc.code.value, "message": exc.message}
            )

    async def _internal_delete(self, request: Request, writer: StreamWriter) -> None:
        presented = request.headers.get(METADATA_KEY, "").encode()
        if not self._internal_secret or not hmac.compare_digest(presented, self._internal_secret):
            raise Unauthenticated("the internal delete needs this deployment's internal secret")
        key = unquote(request.path[len(INTERNAL_DELETE_PATH) :])
        key_owner(key)  # a well-formed key, or INVALID_ARGUMENT
        if not await self.store.delete(key):
            raise NotFound("no such object (never uploaded, or removed)")
        await _respond(writer, 204, None)

    async def _upload(self, request: Request, reader: StreamReader, writer: StreamWriter) -> None:
        key = unquote(request.path[len(UPLOAD_PATH) :])
        key_owner(key)
        grant = verify_upload(self._key, key, request.query, self._clock.now_ms())
        headers = request.headers
        if headers.get("content-type", "").split(";")[0].strip() != grant.content_type:
            raise InvalidArgument(f"Content-Type must be {grant.content_type}, as the upload URL says")
        if "transfer-encoding" in headers:
            raise InvalidArgument("send the body with a Content-Length, not chunked")
        try:
            length = int(headers["content-length"])
        except (KeyError, ValueError) as exc:
            raise InvalidArgument("an upload needs a Content-Length") from exc
        if length > grant.size_bytes:
            raise TooLarge(f"the upload URL allows {grant.size_bytes} bytes, not {length}")
        if length != grant.size_bytes:
            raise InvalidArgument(f"the upload URL is for exactly {grant.size_bytes} bytes, not {length}")
        if await self.store.head(key) is not None:
            raise Conflict("an object was uploaded to this key already")
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        info = BlobInfo(key, grant.content_type, grant.size_bytes)
        await self.store.put(info, _body(reader, length))
        proof = receipt(self._key, key, info.content_type, info.size_bytes, self._clock.now_ms())
        await _respond(writer, 201, {"key": key, "receipt": proof})

    async def _download(self, request: Request, writer: asyncio.StreamWriter) -> None:
        key = unquote(request.path[len(DOWNLOAD_PATH) :])
        verify_download(self._key, key, request.query, self._clock.now_ms())
        info = await self.store.head(key)
        if info is None:
            raise NotFound("no such object (never uploaded, or removed)")
        headers = [
            ("Content-Type", info.content_type),
            ("Content-Length", str(info.size_bytes)),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "private, max-age=600"),
        ]
        writer.write(_head(200, headers))
        if request.method == "GET":
            async for chunk in self.store.read(key):
                writer.write(chunk)
                await writer.drain()


async def start_blob_server(
    store: WritableStore,
    token_secret: str,
    host: str,
    port: int,
    clock: Clock | None = None,
    internal_secret: str = "",
) -> BlobServer:
    server = BlobServer(store, token_secret, clock, internal_secret)
    await server.start(host, port)
    return server


async def _read_head(reader: asyncio.StreamReader) -> Request | None:
    """The request line and headers; None when they exceed MAX_HEAD_BYTES."""
    try:
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
    except asyncio.LimitOverrunError:
        return None
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise asyncio.IncompleteReadError(b"", None)  # not HTTP: drop the connection
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    path, _, query = parts[1].partition("?")
    return Request(parts[0], path, query, headers)


async def _body(reader: asyncio.StreamReader, length: int) -> AsyncIterator[bytes]:
    left = length
    while left:
        chunk = await asyncio.wait_for(reader.read(min(left, BODY_CHUNK_BYTES)), BODY_IDLE_TIMEOUT_S)
        if not chunk:
            return  # the client stopped early: counted() refuses the short body
        left -= len(chunk)
        yield chunk


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}",
        *(f"{n}: {v}" for n, v in (*headers, *CORS)),
    ]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _respond(writer: asyncio.StreamWriter, status: int, body: dict[str, str] | None) -> None:
    data = orjson.dumps(body) if body is not None else b""
    headers = [("Content-Length", str(len(data)))]
    if body is not None:
        headers.append(("Content-Type", "application/json"))
    writer.write(_head(status, headers) + data)
    await writer.drain()
