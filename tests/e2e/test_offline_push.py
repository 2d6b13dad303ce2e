"""Offline push end to end: a node configured with FCM, APNs and Web Push credentials (pointed
at a local HTTP/2 server speaking the services' contracts) sends one push per registered device
of an offline member, and removes the target its service reports gone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from deploy.local_servers.process import free_port
from deploy.single_node import start_single_node
from protos import client_pb2 as pb
from tests.e2e.conftest import config_for_tests
from tests.e2e.wire_client import WireClient
from tests.router.push.credentials import KEY_ID, PROJECT, TEAM_ID, b64url, make_credentials
from tests.router.push.fake_services import APNS_GONE, running_fake_services

WAIT_S = 30.0


async def test_an_offline_member_gets_one_push_per_device_and_gone_targets_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    keys = make_credentials(tmp_path, f"https://127.0.0.1:{port}/token")
    base = f"https://127.0.0.1:{port}"
    for name, value in {
        "HUBBUB_PUSH_FCM_PROJECT_ID": PROJECT,
        "HUBBUB_PUSH_FCM_CREDENTIALS_FILE": str(keys.fcm_account),
        "HUBBUB_PUSH_FCM_BASE_URL": base,
        "HUBBUB_PUSH_APNS_KEY_FILE": str(keys.apns_key),
        "HUBBUB_PUSH_APNS_KEY_ID": KEY_ID,
        "HUBBUB_PUSH_APNS_TEAM_ID": TEAM_ID,
        "HUBBUB_PUSH_APNS_BASE_URL": base,
        "HUBBUB_PUSH_VAPID_PRIVATE_KEY_FILE": str(keys.vapid_key),
        "HUBBUB_PUSH_VAPID_SUBJECT": "mailto:ops@hubbub.test",
        "HUBBUB_PUSH_TLS_CA_FILE": str(keys.cert),
        "HUBBUB_PUSH_WEBPUSH_HOSTS": "127.0.0.1",  # the local Web Push service, named exactly
    }.items():
        monkeypatch.setenv(name, value)
    async with running_fake_services(keys, port) as fake:
        fake.answer("/3/device/", APNS_GONE)
        node = await start_single_node(config_for_tests(tmp_path))
        try:
            bob = await WireClient.sign_up(node.ws_url, "bob", "android")
            token = bob.welcome.token
            await bob.request(
                pb.ClientFrame(push_register=pb.RegisterPushTarget(fcm=pb.FcmTarget(token="fcm:bob")))
            )
            browser = await WireClient.with_token(node.ws_url, token, "browser")
            web = pb.WebPushTarget(
                endpoint=f"{base}/push/bob", p256dh=keys.p256dh, auth=b64url(keys.browser_auth)
            )
            await browser.request(pb.ClientFrame(push_register=pb.RegisterPushTarget(web_push=web)))
            iphone = await WireClient.with_token(node.ws_url, token, "iphone")
            apns = pb.ApnsTarget(token="cd" * 32, topic="chat.hubbub")
            await iphone.request(pb.ClientFrame(push_register=pb.RegisterPushTarget(apns=apns)))
            for device in (bob, browser, iphone):
                await device.close()

            alice = await WireClient.sign_up(node.ws_url, "alice")
            opened = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
            sent = await alice.send_text(opened.conversation.conversation_id, "are you there?", "m1")
            assert sent.WhichOneof("kind") == "sent"
            async with asyncio.timeout(WAIT_S):
                (fcm,) = await fake.wait_for("/v1/", 1)
                (webpush,) = await fake.wait_for("/push/", 1)
                (apns_request,) = await fake.wait_for("/3/device/", 1)
            assert fcm.body.count(b"fcm:bob") == 1 and apns_request.path.endswith("cd" * 32)
            assert webpush.headers["content-encoding"] == "aes128gcm"

            # The iPhone's token was reported gone: it is no longer listed.
            again = await WireClient.with_token(node.ws_url, token, "android")
            async with asyncio.timeout(WAIT_S):
                while True:
                    listed = await again.request(pb.ClientFrame(push_list=pb.ListPushTargets()))
                    if listed.WhichOneof("kind") != "push_targets":  # rate limited: ask again
                        continue
                    devices = [t.device_id for t in listed.push_targets.targets]
                    if "iphone" not in devices:
                        break
            assert devices == ["android", "browser"]
            await again.close()
            await alice.close()
        finally:
            await node.stop()
