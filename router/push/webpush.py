"""Web Push (RFC 8030) to a browser's subscription: the payload encrypted for it (RFC 8291,
aes128gcm, pywebpush) and signed with our VAPID key (RFC 8292, py-vapid). 404 and 410 mean the
subscription is gone. A push to an endpoint whose host the allow-list refuses, or that resolves
to an internal address (kernel/webpush_hosts.py), is dropped unsent: the router never POSTs
inside the network."""

from __future__ import annotations

import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx
import orjson
from py_vapid import Vapid
from pywebpush import WebPusher, WebPushException

from kernel.push_targets import PushTarget
from kernel.webpush_hosts import DEFAULT_WEBPUSH_HOSTS, host_refusal
from router.push.checked_connect import CheckedTransport, Resolve, refused, system_resolve
from router.push.http_send import TIMEOUT_S, retryable, tls_verify, transport_failure
from router.push.rules import PushContent, SendResult, Verdict

TTL_S = 24 * 3600
VAPID_LIFETIME_S = 12 * 3600


def webpush_body(content: PushContent) -> bytes:
    return orjson.dumps({"title": content.title, "body": content.body, "data": content.data})


class WebPushSender:
    def __init__(
        self,
        vapid_private_key_file: str,
        subject: str,
        *,
        ca_file: str = "",
        allowed_hosts: Sequence[str] = DEFAULT_WEBPUSH_HOSTS,
        resolve: Resolve = system_resolve,
    ) -> None:
        self._vapid = Vapid.from_file(vapid_private_key_file)
        self._subject = subject
        self._allowed = tuple(allowed_hosts)
        transport = CheckedTransport(tls_verify(ca_file), self._allowed, resolve)
        self._client = httpx.AsyncClient(transport=transport, timeout=TIMEOUT_S)

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
        refusal = host_refusal(urlsplit(target.token).hostname or "", self._allowed)
        if refusal is not None:  # registered before the list changed, or by an older edge
            return SendResult(Verdict.REJECTED, None, f"endpoint refused: {refusal}")
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
            refusal = refused(exc)
            if refusal is not None:  # it resolves inside the network: never to be sent
                return SendResult(Verdict.REJECTED, None, f"endpoint refused: {refusal}")
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
