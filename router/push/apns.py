"""Apple Push Notification service over HTTP/2 with a provider token (ES256 JWT from a .p8 key,
PyJWT). 410 Unregistered and 400 BadDeviceToken mean the device token is gone."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import jwt
import orjson

from kernel.push_targets import PushTarget
from router.push.http_send import http2_client, retryable, transport_failure
from router.push.rules import PushContent, SendResult, Verdict

PRODUCTION_URL = "https://api.push.apple.com"
SANDBOX_URL = "https://api.sandbox.push.apple.com"
TOKEN_LIFETIME_S = 40 * 60
"""Apple refuses tokens older than an hour and refreshing more than once in 20 minutes."""
GONE_REASONS = frozenset({"Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic"})


def apns_reason(body: bytes) -> str:
    try:
        return str(orjson.loads(body).get("reason", ""))
    except (orjson.JSONDecodeError, AttributeError):
        return ""


def apns_payload(content: PushContent) -> bytes:
    alert = {"title": content.title} | ({"body": content.body} if content.body else {})
    return orjson.dumps({"aps": {"alert": alert, "thread-id": content.collapse_key}} | content.data)


class ApnsSender:
    def __init__(
        self, key_file: str, key_id: str, team_id: str, *, base_url: str = "", ca_file: str = ""
    ) -> None:
        self._key = Path(key_file).read_text()
        self._key_id = key_id
        self._team_id = team_id
        self._base_url = base_url.rstrip("/")
        self._client = http2_client(ca_file)
        self._token = ""
        self._token_at = 0.0

    def _provider_token(self, *, renew: bool = False) -> str:
        now = time.time()
        if renew or not self._token or now - self._token_at > TOKEN_LIFETIME_S:
            claims = {"iss": self._team_id, "iat": int(now)}
            self._token = jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self._key_id})
            self._token_at = now
        return self._token

    def _url(self, target: PushTarget) -> str:
        base = self._base_url or (SANDBOX_URL if target.apns_sandbox else PRODUCTION_URL)
        return f"{base}/3/device/{target.token}"

    async def send(self, target: PushTarget, content: PushContent) -> SendResult:
        body = apns_payload(content)
        try:
            response = await self._post(target, content, body, self._provider_token())
            if response.status_code == 403 and apns_reason(response.content) == "ExpiredProviderToken":
                response = await self._post(target, content, body, self._provider_token(renew=True))
        except httpx.HTTPError as exc:
            return transport_failure(exc)
        if response.status_code == 200:
            return SendResult(Verdict.SENT)
        reason = apns_reason(response.content)
        if response.status_code == 410 or reason in GONE_REASONS:
            return SendResult(Verdict.GONE, None, f"{response.status_code} {reason}")
        return retryable(response) or SendResult(Verdict.REJECTED, None, f"{response.status_code} {reason}")

    async def _post(
        self, target: PushTarget, content: PushContent, body: bytes, token: str
    ) -> httpx.Response:
        headers = {
            "authorization": f"bearer {token}",
            "apns-topic": target.apns_topic,
            "apns-push-type": "alert",
            "apns-priority": "10",
            "apns-collapse-id": content.collapse_key,
        }
        return await self._client.post(self._url(target), content=body, headers=headers)

    async def close(self) -> None:
        await self._client.aclose()
