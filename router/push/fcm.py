"""Firebase Cloud Messaging, HTTP v1 API: POST /v1/projects/{project}/messages:send with a
service account's OAuth2 access token (google-auth). UNREGISTERED (404) means the token is gone."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import requests
from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from kernel.push_targets import PushTarget
from router.push.http_send import http2_client, retryable, transport_failure
from router.push.rules import PushContent, SendResult, Verdict

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


def fcm_error_code(body: bytes) -> str:
    """The FcmError errorCode of an error reply ("UNREGISTERED", "QUOTA_EXCEEDED", ...), or ""."""
    try:
        details = orjson.loads(body)["error"].get("details", [])
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return ""
    for detail in details:
        if isinstance(detail, dict) and detail.get("@type") == FCM_ERROR_TYPE:
            return str(detail.get("errorCode", ""))
    return ""


def fcm_message(target: PushTarget, content: PushContent) -> dict[str, object]:
    notification = {"title": content.title} | ({"body": content.body} if content.body else {})
    return {
        "message": {
            "token": target.token,
            "notification": notification,
            "data": content.data,
            "android": {"collapse_key": content.collapse_key},
            "apns": {"headers": {"apns-collapse-id": content.collapse_key}},
            "webpush": {"headers": {"Topic": content.collapse_key}},
        }
    }


class FcmSender:
    def __init__(self, project_id: str, credentials_file: str, *, base_url: str, ca_file: str = "") -> None:
        self._url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            credentials_file, scopes=[SCOPE]
        )
        session = requests.Session()
        if ca_file:  # requests lets REQUESTS_CA_BUNDLE override session.verify unless env is off
            session.trust_env = False
            session.verify = ca_file
        self._session = session
        self._client = http2_client(ca_file)
        self._refreshing = asyncio.Lock()

    async def _token(self, *, renew: bool = False) -> str:
        async with self._refreshing:
            if renew or not self._credentials.valid:
                await asyncio.to_thread(self._credentials.refresh, Request(self._session))
            return str(self._credentials.token)

    async def send(self, target: PushTarget, content: PushContent) -> SendResult:
        body = orjson.dumps(fcm_message(target, content))
        try:
            response = await self._post(body, await self._token())
            if response.status_code == 401:  # the token was revoked or expired early
                response = await self._post(body, await self._token(renew=True))
        except httpx.HTTPError as exc:
            return transport_failure(exc)
        except GoogleAuthError as exc:  # the token endpoint refused or is down
            return SendResult(Verdict.RETRY, None, f"oauth2: {exc}")
        if response.status_code == 200:
            return SendResult(Verdict.SENT)
        code = fcm_error_code(response.content)
        if code == "UNREGISTERED" or response.status_code == 404:
            return SendResult(Verdict.GONE, None, code or "404")
        return retryable(response) or SendResult(Verdict.REJECTED, None, f"{response.status_code} {code}")

    async def _post(self, body: bytes, token: str) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json; charset=UTF-8"}
        return await self._client.post(self._url, content=body, headers=headers)

    async def close(self) -> None:
        await self._client.aclose()
        self._session.close()
