"""The web client's files, answered over plain HTTP on the WebSocket port (a browser that asks
for a page rather than an upgrade); a fixed set read once from `edge/web/`, so no path escapes it."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from urllib.parse import unquote

WEB_PACKAGE = "edge.web"
INDEX = "index.html"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

# Scripts and styles only from this origin, no inline code, no framing. The page connects to
# whichever edge discovery names (another port or host) and may ask a discovery elsewhere
# (`?discovery=`), so connections may go to any http(s)/ws(s) origin; code still comes only
# from here.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' http: https: ws: wss:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-cache"),
)


def security_headers(media_origin: str) -> tuple[tuple[str, str], ...]:
    """SECURITY_HEADERS, letting the page upload to and show images from the blob server at
    `media_origin` (scheme://host:port; empty = no attachments, the plain policy)."""
    if not media_origin:
        return SECURITY_HEADERS
    policy = CONTENT_SECURITY_POLICY.replace("img-src 'self' data:", f"img-src 'self' data: {media_origin}")
    policy = policy.replace("connect-src 'self'", f"connect-src 'self' {media_origin}")
    return (("Content-Security-Policy", policy), *SECURITY_HEADERS[1:])


@dataclass(frozen=True, slots=True)
class StaticReply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def load_web_files() -> dict[str, bytes]:
    """Every file shipped in the web folder, by name (flat: the client has no subfolders)."""
    folder = resources.files(WEB_PACKAGE)
    files: dict[str, bytes] = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if entry.is_file() and suffix in CONTENT_TYPES:
            files[entry.name] = entry.read_bytes()
    return files


class WebFiles:
    """Answers GET requests for the web client; anything not in the fixed set is 404."""

    __slots__ = ("_files", "_headers")

    def __init__(self, files: dict[str, bytes] | None = None, media_origin: str = "") -> None:
        self._files = load_web_files() if files is None else files
        self._headers = security_headers(media_origin)

    def reply(self, method: str, target: str) -> StaticReply:
        if method != "GET":
            return _text(405, "only GET is served here\n", (("Allow", "GET"),))
        name = file_name(target)
        body = self._files.get(name) if name is not None else None
        if name is None or body is None:
            return _text(404, "not found\n")
        content_type = CONTENT_TYPES["." + name.rsplit(".", 1)[-1]]
        return StaticReply(200, (("Content-Type", content_type), *self._headers), body)


def file_name(target: str) -> str | None:
    """The file a request target names ("/" is the index), or None when it names no plain file
    of the folder: a decoded path with another slash, a backslash, a dot segment or a NUL."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        return None
    name = unquote(path[1:])
    if name == "":
        return INDEX
    if "/" in name or "\\" in name or "\x00" in name or name.startswith("."):
        return None
    return name


def _text(status: int, text: str, extra: tuple[tuple[str, str], ...] = ()) -> StaticReply:
    headers = (("Content-Type", "text/plain; charset=utf-8"), *SECURITY_HEADERS, *extra)
    return StaticReply(status, headers, text.encode())
