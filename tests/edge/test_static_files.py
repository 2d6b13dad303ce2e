"""The web client's file server: a fixed set of files, typed, with a CSP; no path escapes."""

from __future__ import annotations

import re

import pytest

from edge.static_files import CONTENT_SECURITY_POLICY, WebFiles, file_name

FILES = {"index.html": b"<!doctype html>", "app.js": b"export {};", "style.css": b"body{}"}


def headers_of(reply_headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return dict(reply_headers)


@pytest.mark.parametrize(
    ("target", "content_type"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css?v=2", "text/css; charset=utf-8"),
    ],
)
def test_files_are_served_with_their_content_type_and_the_csp(target: str, content_type: str) -> None:
    reply = WebFiles(FILES).reply("GET", target)
    headers = headers_of(reply.headers)
    assert reply.status == 200
    assert headers["Content-Type"] == content_type
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "target",
    [
        "/../pyproject.toml",
        "/..%2fpyproject.toml",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e%2fstatic_files.py",
        "/..\\static_files.py",
        "/%5c..%5cstatic_files.py",
        "//etc/passwd",
        "/etc/passwd",
        "/.hidden.js",
        "/app.js%00.html",
        "/__init__.py",
        "/missing.js",
        "index.html",
        "http://example.com/index.html",
    ],
)
def test_paths_outside_the_fixed_set_are_not_found(target: str) -> None:
    reply = WebFiles(FILES).reply("GET", target)
    assert reply.status == 404
    assert reply.body == b"not found\n"


def test_only_get_is_served() -> None:
    reply = WebFiles(FILES).reply("DELETE", "/")
    assert reply.status == 405
    assert headers_of(reply.headers)["Allow"] == "GET"


def test_file_name_decodes_percent_escapes_once() -> None:
    assert file_name("/app%2Ejs") == "app.js"
    assert file_name("/%252e%252e") == "%2e%2e"  # decoded once: a name, not a dot segment


def test_the_shipped_client_is_complete() -> None:
    """Every file index.html and the modules refer to is served (and so in the package)."""
    shipped = WebFiles()
    index = shipped.reply("GET", "/").body.decode()
    referred = set(re.findall(r'(?:href|src)="(/[^"]*)"', index))
    assert "/app.js" in referred
    for module in [name for name in referred if name.endswith(".js")]:
        source = shipped.reply("GET", module).body.decode()
        referred |= {"/" + name for name in re.findall(r'from "\./([^"]+)"', source)}
    assert {"/client.js", "/store.js"} <= referred
    for name in referred:
        assert shipped.reply("GET", name).status == 200, name


def test_a_node_with_attachments_lets_the_page_show_images_of_its_blob_server_only() -> None:
    """Images only from the page and its blob server; connections may go to any edge discovery
    names (connect-src lists http/https/ws/wss as well), scripts only from the page."""
    headers = dict(
        WebFiles({"index.html": b"<html>"}, media_origin="http://127.0.0.1:9").reply("GET", "/").headers
    )
    policy = headers["Content-Security-Policy"]
    assert "img-src 'self' data: http://127.0.0.1:9;" in policy
    assert "connect-src 'self' http://127.0.0.1:9 http: https: ws: wss:;" in policy
    assert "script-src 'self';" in policy
    assert policy.replace(" http://127.0.0.1:9", "") == CONTENT_SECURITY_POLICY
