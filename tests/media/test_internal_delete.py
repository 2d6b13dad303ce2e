"""The blob server's internal delete over real HTTP: what a cluster's messaging and routers
call to remove a deleted message's object (media/internal_delete.py). Only a caller with the
deployment's internal secret removes anything; a client's signed URLs never do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kernel.clock import ManualClock
from kernel.errors import Unavailable
from kernel.media_urls import SignedUrls, new_key
from media import LocalBlobStore, start_blob_server
from media.internal_delete import BlobServerRemover
from tests.media.test_blob_server import PNG, SECRET, Served, code, http, upload

INTERNAL = "internal-test-secret"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    clock = ManualClock()
    store = LocalBlobStore(tmp_path / "media", SignedUrls("http://unused", SECRET))
    server = await start_blob_server(store, SECRET, "127.0.0.1", 0, clock, internal_secret=INTERNAL)
    try:
        yield Served(server, SignedUrls(f"http://127.0.0.1:{server.port}", SECRET), clock)
    finally:
        await server.stop()


def base(served: Served) -> str:
    return f"http://127.0.0.1:{served.server.port}"


async def stored(served: Served) -> str:
    key = new_key(42, "alice")
    assert (await upload(served, served.upload_url(key)))[0] == 201
    return key


async def test_the_internal_secret_removes_the_object_and_its_url_answers_404(served: Served) -> None:
    key = await stored(served)
    url, _ = served.urls.download_url(key, served.clock.now_ms())
    remover = BlobServerRemover(base(served), INTERNAL)
    assert await remover.delete(key) is True
    assert (await http("GET", url))[0] == 404
    assert await remover.delete(key) is False  # already gone: told, not an error


async def test_a_caller_without_the_secret_is_refused_and_nothing_is_removed(served: Served) -> None:
    key = await stored(served)
    url, _ = served.urls.download_url(key, served.clock.now_ms())
    status, payload = await http("DELETE", f"{base(served)}/internal/objects/{key}")
    assert (status, code(payload)) == (403, "UNAUTHENTICATED")
    with pytest.raises(Unavailable):
        await BlobServerRemover(base(served), "not-the-secret").delete(key)
    # A client's signed download URL is no delete either.
    assert (await http("DELETE", url))[0] == 405
    assert await http("GET", url) == (200, PNG)


async def test_a_server_without_an_internal_secret_refuses_every_delete(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "media", SignedUrls("http://unused", SECRET))
    server = await start_blob_server(store, SECRET, "127.0.0.1", 0, ManualClock())
    try:
        key = new_key(42, "alice")
        status, payload = await http(
            "DELETE",
            f"http://127.0.0.1:{server.port}/internal/objects/{key}",
            headers={"x-hubbub-internal": ""},
        )
        assert (status, code(payload)) == (403, "UNAUTHENTICATED")
    finally:
        await server.stop()


async def test_a_malformed_key_is_a_clear_error(served: Served) -> None:
    status, payload = await http(
        "DELETE", f"{base(served)}/internal/objects/../etc", headers={"x-hubbub-internal": INTERNAL}
    )
    assert (status, code(payload)) == (400, "INVALID_ARGUMENT")
