"""The blob server over real HTTP on a free loopback port: uploads through signed URLs, the
refusals a client sees (status and code), and that a refused upload stores nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest

from kernel.clock import ManualClock
from kernel.limits import MEDIA_DOWNLOAD_TTL_MS, MEDIA_UPLOAD_TTL_MS
from kernel.media_urls import SignedUrls, grant_upload, media_key, new_key, receipt
from media import BlobServer, LocalBlobStore, start_blob_server

SECRET = "test-secret"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


class Served:
    def __init__(self, server: BlobServer, urls: SignedUrls, clock: ManualClock) -> None:
        self.server, self.urls, self.clock = server, urls, clock

    def upload_url(self, key: str, content_type: str = "image/png", size: int = len(PNG)) -> str:
        return self.urls.upload_url(grant_upload(key, content_type, size, self.clock.now_ms()))


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    clock = ManualClock()
    store = LocalBlobStore(tmp_path / "media", SignedUrls("http://unused", SECRET))
    server = await start_blob_server(store, SECRET, "127.0.0.1", 0, clock)
    try:
        yield Served(server, SignedUrls(f"http://127.0.0.1:{server.port}", SECRET), clock)
    finally:
        await server.stop()


async def http(
    method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None, *, send_body: bool = True
) -> tuple[int, bytes]:
    """One request on its own connection; (status, body) of the final response."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    fields = {"Host": parts.netloc, "Content-Length": str(len(body)), **(headers or {})}
    head = f"{method} {parts.path}?{parts.query} HTTP/1.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in fields.items()) + "\r\n"
    writer.write(head.encode())
    if send_body:
        writer.write(body)
    writer.write_eof()
    raw = await reader.read()
    writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), payload


async def upload(
    served: Served, url: str, body: bytes = PNG, content_type: str = "image/png"
) -> tuple[int, bytes]:
    return await http("PUT", url, body, {"Content-Type": content_type})


def code(payload: bytes) -> str:
    return str(orjson.loads(payload)["code"])


async def test_an_upload_is_stored_and_a_signed_download_reads_it(served: Served) -> None:
    key = new_key(42, "alice")
    status, payload = await upload(served, served.upload_url(key))
    assert status == 201
    answer = orjson.loads(payload)
    proof = receipt(media_key(SECRET), key, "image/png", len(PNG), served.clock.now_ms())
    assert answer == {"key": key, "receipt": proof}
    url, _ = served.urls.download_url(key, served.clock.now_ms())
    assert await http("GET", url) == (200, PNG)


async def test_wrong_type_or_size_is_refused_before_any_byte_is_stored(served: Served) -> None:
    key = new_key(42, "alice")
    url = served.upload_url(key)
    # Expect: 100-continue: a refused client never sends its body at all
    refused = await http(
        "PUT", url, PNG, {"Content-Type": "text/html", "Expect": "100-continue"}, send_body=False
    )
    assert refused[0] == 400 and code(refused[1]) == "INVALID_ARGUMENT"
    status, payload = await upload(served, url, PNG + b"more")
    assert (status, code(payload)) == (413, "TOO_LARGE")
    assert await served.server.store.head(key) is None


async def test_a_body_that_ends_short_of_its_length_stores_nothing(served: Served) -> None:
    key = new_key(42, "alice")
    status, payload = await http(
        "PUT",
        served.upload_url(key),
        PNG[:50],
        {"Content-Type": "image/png", "Content-Length": str(len(PNG))},
    )
    assert (status, code(payload)) == (400, "INVALID_ARGUMENT")
    assert await served.server.store.head(key) is None
    assert (await upload(served, served.upload_url(key)))[0] == 201  # the key is still free


async def test_an_upload_url_takes_one_upload_and_no_other_key(served: Served) -> None:
    key = new_key(42, "alice")
    url = served.upload_url(key)
    assert (await upload(served, url))[0] == 201
    status, payload = await upload(served, url)
    assert (status, code(payload)) == (409, "CONFLICT")
    other = url.replace(key.split("/")[-1], new_key(42, "alice").split("/")[-1])
    status, payload = await upload(served, other)
    assert (status, code(payload)) == (403, "UNAUTHENTICATED")


async def test_expired_or_tampered_urls_are_refused(served: Served) -> None:
    key = new_key(42, "alice")
    url = served.upload_url(key)
    tampered = url.replace("type=image%2Fpng", "type=image%2Fgif")
    assert (await upload(served, tampered, content_type="image/gif"))[0] == 403
    served.clock.advance(MEDIA_UPLOAD_TTL_MS)
    status, payload = await upload(served, url)
    assert (status, code(payload)) == (403, "UNAUTHENTICATED")
    assert await served.server.store.head(key) is None

    stored = new_key(42, "alice")
    assert (await upload(served, served.upload_url(stored)))[0] == 201
    download, _ = served.urls.download_url(stored, served.clock.now_ms())
    assert (await http("GET", download.replace("sig=", "sig=0")))[0] == 403
    served.clock.advance(MEDIA_DOWNLOAD_TTL_MS)
    assert (await http("GET", download))[0] == 403


async def test_a_download_of_a_removed_object_is_not_found(served: Served) -> None:
    key = new_key(42, "alice")
    assert (await upload(served, served.upload_url(key)))[0] == 201
    assert await served.server.store.delete(key) is True
    status, payload = await http("GET", served.urls.download_url(key, served.clock.now_ms())[0])
    assert (status, code(payload)) == (404, "NOT_FOUND")


async def test_garbage_on_the_socket_leaves_the_server_serving(served: Served) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.server.port)
    writer.write(b"\x00\x01 not http\r\n\r\n")
    writer.write_eof()
    await reader.read()
    writer.close()
    key = new_key(42, "alice")
    assert (await upload(served, served.upload_url(key)))[0] == 201


async def test_connections_past_the_cap_are_told_to_retry_and_the_held_ones_still_finish(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review finding: slow uploads could pile up without bound on the edge's process."""
    monkeypatch.setattr("media.http_server.MAX_BLOB_CONNECTIONS", 2)
    held = [await asyncio.open_connection("127.0.0.1", served.server.port) for _ in range(2)]
    for _, writer in held:
        writer.write(b"PUT /media/upload/x HTTP/1.1\r\n")  # a head that has not ended yet
        await writer.drain()
    reader, writer = await asyncio.open_connection("127.0.0.1", served.server.port)
    answer = await reader.read()  # told at once, before it sent anything
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert int(status_line.split()[1]) == 503
    assert code(rest.partition(b"\r\n\r\n")[2]) == "UNAVAILABLE"
    for reader, writer in held:
        writer.write_eof()
        await reader.read()
        writer.close()
    key = new_key(42, "alice")
    assert (await upload(served, served.upload_url(key)))[0] == 201  # the slots came back
