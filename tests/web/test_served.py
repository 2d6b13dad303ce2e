"""`hubbub up` serves the web client on its WebSocket port (the edge in a child process, the
default layout): the URL it prints answers with typed files and a CSP, and nothing else."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from edge.static_files import security_headers
from tests.e2e.wire_client import WireClient
from tests.hubbub_child import hubbub_up

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def web_url(tmp_path: Path) -> AsyncIterator[str]:
    async with hubbub_up(tmp_path / "data") as node:
        ready = node.ready
        page, _, query = ready["web_url"].partition("?")
        # the page asks discovery for its edge (so a drain moves it): the URL names discovery
        assert query == urlencode({"discovery": ready["discovery_http"]}), ready
        yield page
        assert await node.stop() == 0


async def get(url: str, target: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP/1.1 request, the target sent exactly as given (no client normalizes it)."""
    address = urlsplit(url)
    assert address.hostname is not None and address.port is not None
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(f"{method} {target} HTTP/1.1\r\nHost: {address.netloc}\r\n\r\n".encode())
    answer = await reader.read()  # the server closes after one answer
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


async def test_the_printed_url_serves_the_client_with_types_and_a_csp(web_url: str) -> None:
    assert web_url.startswith("http://127.0.0.1:") and web_url.endswith("/")
    status, headers, body = await get(web_url, "/")
    assert status == 200 and b'<script type="module" src="/app.js">' in body
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    # the page may reach only its own origin, and the node's blob server (attachments)
    policy = headers["Content-Security-Policy"]
    blobs = re.search(r"connect-src 'self' (http://127\.0\.0\.1:\d+)[ ;]", policy)
    assert blobs is not None, policy
    assert policy == dict(security_headers(blobs.group(1)))["Content-Security-Policy"]
    status, headers, body = await get(web_url, "/app.js")
    assert status == 200 and headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert int(headers["Content-Length"]) == len(body) > 0
    status, headers, _ = await get(web_url, "/style.css")
    assert status == 200 and headers["Content-Type"] == "text/css; charset=utf-8"


ESCAPES = [
    "/../pyproject.toml",
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2fpyproject.toml",
    "/static_files.py",
    "/%2e%2e%2fstatic_files.py",
    "/..%5cstatic_files.py",
    "/__init__.py",
    "//etc/passwd",
]


async def test_no_path_leaves_the_web_folder_and_websockets_still_work(web_url: str) -> None:
    for target in ESCAPES:
        status, _, body = await get(web_url, target)
        assert (status, body) == (404, b"not found\n"), target
    status, headers, _ = await get(web_url, "/", method="POST")
    assert (status, headers["Allow"]) == (405, "GET")
    alice = await WireClient.sign_up(web_url.replace("http://", "ws://").rstrip("/"), "alice")
    await alice.close()
