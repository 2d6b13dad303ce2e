"""One local HTTP/2 server (TLS, hypercorn) that speaks the documented contracts of the three
push services: Google's OAuth2 token endpoint and FCM HTTP v1, APNs' /3/device, and a Web Push
endpoint. Each request is recorded; a test scripts the answers (status, headers, body), and
gets each service's success reply otherwise."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from hypercorn.asyncio import serve
from hypercorn.config import Config

from deploy.local_servers.process import free_port, port_open
from tests.router.push.credentials import Credentials

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Reply = tuple[int, dict[str, str], bytes]

UNREGISTERED: Reply = (
    404,
    {},
    orjson.dumps(
        {
            "error": {
                "code": 404,
                "message": "Requested entity was not found.",
                "status": "NOT_FOUND",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                        "errorCode": "UNREGISTERED",
                    }
                ],
            }
        }
    ),
)
QUOTA_EXCEEDED: Reply = (
    429,
    {"retry-after": "0"},
    orjson.dumps({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota exceeded."}}),
)
APNS_GONE: Reply = (410, {}, orjson.dumps({"reason": "Unregistered", "timestamp": 1700000000000}))
APNS_TOO_MANY: Reply = (429, {"retry-after": "0"}, orjson.dumps({"reason": "TooManyRequests"}))


@dataclass(frozen=True)
class Request:
    path: str
    http_version: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakePushServices:
    port: int
    requests: list[Request] = field(default_factory=list)
    scripts: dict[str, list[Reply]] = field(default_factory=lambda: defaultdict(list))
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def answer(self, prefix: str, *replies: Reply) -> None:
        """The next requests whose path starts with `prefix` get these replies, in order."""
        self.scripts[prefix].extend(replies)

    def to(self, prefix: str) -> list[Request]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    async def wait_for(self, prefix: str, count: int) -> list[Request]:
        async with self.changed:
            await self.changed.wait_for(lambda: len(self.to(prefix)) >= count)
            return self.to(prefix)

    async def wait_until(self, check: Callable[[FakePushServices], bool]) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: check(self))

    def _reply(self, path: str) -> Reply:
        for prefix, replies in self.scripts.items():
            if path.startswith(prefix) and replies:
                return replies.pop(0)
        if path == "/token":
            return (
                200,
                {},
                orjson.dumps({"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"}),
            )
        if path.startswith("/v1/projects/"):
            return 200, {}, orjson.dumps({"name": f"projects/p/messages/{len(self.requests)}"})
        if path.startswith("/3/device/"):
            return 200, {"apns-id": "00000000-0000-0000-0000-000000000001"}, b""
        return 201, {"location": f"{self.base_url}/m/{len(self.requests)}"}, b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        async with self.changed:
            self.requests.append(Request(scope["path"], scope["http_version"], headers, body))
            status, extra, reply = self._reply(scope["path"])
            self.changed.notify_all()
        content_type = [(b"content-type", b"application/json")] if reply else []
        out = content_type + [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": reply})


@contextlib.asynccontextmanager
async def running_fake_services(
    credentials: Credentials, port: int | None = None
) -> AsyncIterator[FakePushServices]:
    fake = FakePushServices(port or free_port())
    config = Config()
    config.bind = [f"127.0.0.1:{fake.port}"]
    config.certfile = str(credentials.cert)
    config.keyfile = str(credentials.key)
    config.accesslog = None
    config.errorlog = None
    stop = asyncio.Event()
    server = asyncio.create_task(serve(fake, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(30):
            while not port_open("127.0.0.1", fake.port):  # hypercorn has no "listening" callback
                if server.done():
                    server.result()
                await asyncio.sleep(0.01)
        yield fake
    finally:
        stop.set()
        await server
