"""The FCM, APNs and Web Push senders against a local HTTP/2 server that speaks each service's
contract: what they send (auth, headers, the encrypted Web Push body), and how they read the
replies: success, gone targets, and 429 / 5xx to be retried."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import http_ece
import jwt
import orjson
import pytest

from deploy.local_servers.process import free_port
from kernel.push_targets import PushService, PushTarget
from router.push.apns import ApnsSender
from router.push.checked_connect import system_resolve
from router.push.fcm import FcmSender
from router.push.rules import PushContent, Verdict
from router.push.webpush import WebPushSender
from tests.router.push.credentials import KEY_ID, PROJECT, TEAM_ID, Credentials, b64url, make_credentials
from tests.router.push.fake_services import (
    APNS_GONE,
    APNS_TOO_MANY,
    QUOTA_EXCEEDED,
    UNREGISTERED,
    FakePushServices,
    running_fake_services,
)

CONTENT = PushContent("New message", "", "c7", {"conversation_id": "7", "message_id": "70", "seq": "3"})


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[tuple[FakePushServices, Credentials]]:
    port = free_port()
    credentials = make_credentials(tmp_path, f"https://127.0.0.1:{port}/token")
    async with running_fake_services(credentials, port) as fake:
        yield fake, credentials


def fcm_sender(fake: FakePushServices, credentials: Credentials) -> FcmSender:
    return FcmSender(
        PROJECT, str(credentials.fcm_account), base_url=fake.base_url, ca_file=str(credentials.cert)
    )


async def test_fcm_sends_with_an_oauth2_token_over_http2(
    services: tuple[FakePushServices, Credentials],
) -> None:
    fake, credentials = services
    sender = fcm_sender(fake, credentials)
    try:
        target = PushTarget("ann", "phone", PushService.FCM, "fcm-token-1")
        assert (await sender.send(target, CONTENT)).verdict is Verdict.SENT
        assert (await sender.send(target, CONTENT)).verdict is Verdict.SENT
    finally:
        await sender.close()
    assert len(fake.to("/token")) == 1  # the token is reused until it expires
    first = fake.to("/v1/")[0]
    assert first.path == f"/v1/projects/{PROJECT}/messages:send" and first.http_version == "2"
    assert first.headers["authorization"] == "Bearer ya29.test"
    message = orjson.loads(first.body)["message"]
    assert message["token"] == "fcm-token-1"
    assert message["android"]["collapse_key"] == "c7" and message["data"]["message_id"] == "70"


async def test_fcm_unregistered_is_gone_and_quota_is_retried(
    services: tuple[FakePushServices, Credentials],
) -> None:
    fake, credentials = services
    fake.answer("/v1/", UNREGISTERED, QUOTA_EXCEEDED, (503, {"retry-after": "7"}, b""))
    sender = fcm_sender(fake, credentials)
    target = PushTarget("ann", "phone", PushService.FCM, "fcm-token-1")
    try:
        gone = await sender.send(target, CONTENT)
        quota = await sender.send(target, CONTENT)
        unavailable = await sender.send(target, CONTENT)
    finally:
        await sender.close()
    assert (gone.verdict, gone.detail) == (Verdict.GONE, "UNREGISTERED")
    assert (quota.verdict, quota.retry_after_ms) == (Verdict.RETRY, 0)
    assert (unavailable.verdict, unavailable.retry_after_ms) == (Verdict.RETRY, 7000)


def apns_sender(fake: FakePushServices, credentials: Credentials) -> ApnsSender:
    return ApnsSender(
        str(credentials.apns_key), KEY_ID, TEAM_ID, base_url=fake.base_url, ca_file=str(credentials.cert)
    )


async def test_apns_sends_a_provider_token_and_collapse_id(
    services: tuple[FakePushServices, Credentials],
) -> None:
    fake, credentials = services
    sender = apns_sender(fake, credentials)
    target = PushTarget(
        "ann", "phone", PushService.APNS, "ab" * 32, apns_topic="chat.hubbub", apns_sandbox=True
    )
    try:
        assert (await sender.send(target, CONTENT)).verdict is Verdict.SENT
    finally:
        await sender.close()
    (request,) = fake.to("/3/device/")
    assert request.path == "/3/device/" + "ab" * 32 and request.http_version == "2"
    assert request.headers["apns-topic"] == "chat.hubbub" and request.headers["apns-collapse-id"] == "c7"
    token = request.headers["authorization"].removeprefix("bearer ")
    assert jwt.get_unverified_header(token)["kid"] == KEY_ID
    assert jwt.decode(token, credentials.apns_public, algorithms=["ES256"])["iss"] == TEAM_ID
    assert orjson.loads(request.body)["aps"]["alert"] == {"title": "New message"}


async def test_apns_unregistered_and_bad_token_are_gone_429_retried(
    services: tuple[FakePushServices, Credentials],
) -> None:
    fake, credentials = services
    fake.answer("/3/device/", APNS_GONE, (400, {}, orjson.dumps({"reason": "BadDeviceToken"})), APNS_TOO_MANY)
    sender = apns_sender(fake, credentials)
    target = PushTarget("ann", "phone", PushService.APNS, "ab" * 32, apns_topic="chat.hubbub")
    try:
        verdicts = [(await sender.send(target, CONTENT)).verdict for _ in range(3)]
    finally:
        await sender.close()
    assert verdicts == [Verdict.GONE, Verdict.GONE, Verdict.RETRY]


def webpush_sender(credentials: Credentials, allowed: Sequence[str] = ("127.0.0.1",)) -> WebPushSender:
    """The fake service is on loopback: the allow-list names it exactly, as an operator would."""
    return WebPushSender(
        str(credentials.vapid_key),
        "mailto:ops@hubbub.test",
        ca_file=str(credentials.cert),
        allowed_hosts=allowed,
        resolve=rebinding_resolve,
    )


async def rebinding_resolve(host: str, port: int) -> list[str]:
    """A DNS name an attacker controls, answering with a loopback address; others resolve."""
    if host.endswith(".rebind.test"):
        return ["93.184.215.14", "127.0.0.1"]
    return await system_resolve(host, port)


def browser(fake: FakePushServices, credentials: Credentials, endpoint: str = "") -> PushTarget:
    endpoint = endpoint or f"{fake.base_url}/push/sub-1"
    return PushTarget(
        "ann",
        "browser",
        PushService.WEBPUSH,
        endpoint,
        p256dh=credentials.p256dh,
        auth=b64url(credentials.browser_auth),
    )


async def test_webpush_encrypts_for_the_browser_and_signs_with_vapid(
    services: tuple[FakePushServices, Credentials],
) -> None:
    fake, credentials = services
    sender = webpush_sender(credentials)
    try:
        assert (await sender.send(browser(fake, credentials), CONTENT)).verdict is Verdict.SENT
    finally:
        await sender.close()
    (request,) = fake.to("/push/")
    assert request.headers["content-encoding"] == "aes128gcm" and request.headers["topic"] == "c7"
    assert request.headers["authorization"].startswith("vapid t=")
    vapid_token = request.headers["authorization"].split("t=")[1].split(",")[0]
    assert jwt.decode(vapid_token, options={"verify_signature": False})["aud"] == fake.base_url
    plain = http_ece.decrypt(
        request.body,
        private_key=credentials.browser_key,
        auth_secret=credentials.browser_auth,
        version="aes128gcm",
    )
    assert orjson.loads(plain) == {"title": "New message", "body": "", "data": CONTENT.data}


async def test_webpush_404_and_410_are_gone_429_retried(
    services: tuple[FakePushServices, Credentials],
) -> None:
    fake, credentials = services
    fake.answer("/push/", (404, {}, b""), (410, {}, b""), (429, {"retry-after": "3"}, b""))
    sender = webpush_sender(credentials)
    try:
        results = [await sender.send(browser(fake, credentials), CONTENT) for _ in range(3)]
    finally:
        await sender.close()
    assert [r.verdict for r in results] == [Verdict.GONE, Verdict.GONE, Verdict.RETRY]
    assert results[2].retry_after_ms == 3000


async def test_a_service_that_is_down_is_retried_not_raised(tmp_path: Path) -> None:
    credentials = make_credentials(tmp_path, "https://127.0.0.1:1/token")
    sender = ApnsSender(
        str(credentials.apns_key), KEY_ID, TEAM_ID, base_url=f"https://127.0.0.1:{free_port()}"
    )
    try:
        target = PushTarget("ann", "phone", PushService.APNS, "ab" * 32, apns_topic="t")
        assert (await sender.send(target, CONTENT)).verdict is Verdict.RETRY
    finally:
        await sender.close()


def test_b64url_round_trips() -> None:
    assert base64.urlsafe_b64decode(b64url(b"\xff\x00") + "==") == b"\xff\x00"


async def test_webpush_never_posts_to_a_host_off_the_allow_list_or_inside_the_network(
    services: tuple[FakePushServices, Credentials],
) -> None:
    """An endpoint registered before the list changed (or slipped past an older edge) is not
    sent to; nor is a name that a pattern admits but that resolves to loopback (rebinding)."""
    fake, credentials = services
    sender = webpush_sender(credentials, allowed=("fcm.googleapis.com", "*.rebind.test"))
    try:
        loopback = await sender.send(browser(fake, credentials), CONTENT)
        off_list = await sender.send(browser(fake, credentials, "https://push.example/x"), CONTENT)
        rebinding = browser(fake, credentials, f"https://a.rebind.test:{fake.port}/push/x")
        rebound = await sender.send(rebinding, CONTENT)
    finally:
        await sender.close()
    assert {loopback.verdict, off_list.verdict, rebound.verdict} == {Verdict.REJECTED}
    assert "127.0.0.1 is an internal address" in loopback.detail
    assert "not a Web Push service" in off_list.detail
    assert "resolves to internal address 127.0.0.1" in rebound.detail
    assert fake.to("/push/") == []
