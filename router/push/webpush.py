"""Web Push (RFC 8030) to a browser's subscription: the payload encrypted for it (RFC 8291,
aes128gcm, pywebpush) and signed with our VAPID key (RFC 8292, py-vapid). 404 and 410 mean the
subscription is gone."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx
import orjson
from py_vapid import Vapid
from pywebpush import WebPusher, WebPushException

from kernel.push_targets import PushTarget
from router.push.http_send import http2_client, retryable, transport_failure
from router.push.rules import PushContent, SendResult, Verdict

TTL_S = 24 * 3600
VAPID_LIFETIME_S = 12 * 3600


def webpush_body(content: PushContent) -> bytes:
    return orjson.dumps({"title": content.title, "body": content.body, "data": content.data})


class WebPushSender:
    def __init__(self, vapid_private_key_file: str, subject: str, *, ca_file: str = "") -> None:
        self._vapid = Vapid.from_file(vapid_private_key_file)
        self._subject = subject
        self._client = http2_client(ca_file)

    def _headers(self, target: PushTarget, content: PushContent) -> dict[str, str]:
        parts = urlsplit(target.token)
        claims = {
            "sub": self._subject,
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(time.time()) + VAPID_LIFETIME_S,
        }
        signed: dict[str, str] = self._vapid.sign(claims)
        return {
            "authorization": signed["Authorization"],
            "ttl": str(TTL_S),
            "urgency": "normal",
            "topic": content.collapse_key,
            "content-encoding": "aes128gcm",
            "content-type": "application/octet-stream",
        }

    async def send(self, target: PushTarget, content: PushContent) -> SendResult:
        subscription = {"endpoint": target.token, "keys": {"p256dh": target.p256dh, "auth": target.auth}}
        try:
            body: bytes = WebPusher(subscription).encode(webpush_body(content))["body"]
        except (WebPushException, ValueError) as exc:  # keys the browser gave us that do not decode
            return SendResult(Verdict.GONE, None, f"unusable subscription keys: {exc}")
        try:
            response = await self._client.post(
                target.token, content=body, headers=self._headers(target, content)
            )
        except httpx.HTTPError as exc:
            return transport_failure(exc)
        if response.status_code in (200, 201, 202):
            return SendResult(Verdict.SENT)
        if response.status_code in (404, 410):
            return SendResult(Verdict.GONE, None, str(response.status_code))
        return retryable(response) or SendResult(
            Verdict.REJECTED, None, f"{response.status_code} {response.text[:200]}"
        )

    async def close(self) -> None:
        await self._client.aclose()
