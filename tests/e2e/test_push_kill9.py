"""kill -9 a whole node (`hubbub up`) while pushes for an offline member are queued and their
services answer 503; after a restart on the same data each (message, device) is sent once."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections import Counter
from pathlib import Path

import orjson

from deploy.local_servers.process import free_port
from protos import client_pb2 as pb
from tests.e2e.wire_client import WireClient
from tests.hubbub_child import hubbub_up
from tests.router.push.credentials import PROJECT, Credentials, b64url, make_credentials
from tests.router.push.fake_services import FakePushServices, running_fake_services

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0
SENDERS = ("carol", "dave", "erin")
POLL_S = 0.05
DOWN = (503, {"retry-after": "0"}, b"")


def queued(data_dir: Path) -> int:
    """Pushes the node's durable queue still holds."""
    conn = sqlite3.connect(f"{(data_dir / 'push_queue.db').as_uri()}?mode=ro", uri=True)
    try:
        (pending,) = conn.execute("SELECT count(*) FROM pending").fetchone()
        (deliveries,) = conn.execute("SELECT count(*) FROM deliveries").fetchone()
        return int(pending) + int(deliveries)
    finally:
        conn.close()


def sent(fake: FakePushServices) -> Counter[tuple[str, str]]:
    """(service, message id or collapse key) of every push request the fake received."""
    pairs: Counter[tuple[str, str]] = Counter()
    for request in fake.to("/v1/"):
        pairs["fcm", orjson.loads(request.body)["message"]["data"]["message_id"]] += 1
    for request in fake.to("/push/"):
        pairs["webpush", request.headers["topic"]] += 1
    return pairs


async def queue_pushes(ws_url: str, base: str, keys: Credentials) -> set[tuple[str, str]]:
    """Bob's phone (FCM) and browser (Web Push) registered, then offline; one message to him
    from each sender, each in its own conversation (nothing collapses)."""
    bob = await WireClient.sign_up(ws_url, "bob", "android")
    fcm = pb.RegisterPushTarget(fcm=pb.FcmTarget(token="fcm:bob"))
    await bob.request(pb.ClientFrame(push_register=fcm))
    browser = await WireClient.with_token(ws_url, bob.welcome.token, "browser")
    web = pb.WebPushTarget(endpoint=f"{base}/push/bob", p256dh=keys.p256dh, auth=b64url(keys.browser_auth))
    await browser.request(pb.ClientFrame(push_register=pb.RegisterPushTarget(web_push=web)))
    await bob.close()
    await browser.close()
    expected: set[tuple[str, str]] = set()
    for sender in SENDERS:
        client = await WireClient.sign_up(ws_url, sender)
        opened = await client.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
        reply = await client.send_text(opened.conversation.conversation_id, "ping", "m1")
        expected |= {("fcm", str(reply.sent.message_id)), ("webpush", f"c{reply.sent.conversation_id}")}
        await client.close()
    return expected


async def test_pushes_queued_at_kill_9_of_the_node_are_sent_once_after_restart(tmp_path: Path) -> None:
    port = free_port()
    keys = make_credentials(tmp_path, f"https://127.0.0.1:{port}/token")
    base = f"https://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")} | {
        "HUBBUB_PUSH_FCM_PROJECT_ID": PROJECT,
        "HUBBUB_PUSH_FCM_CREDENTIALS_FILE": str(keys.fcm_account),
        "HUBBUB_PUSH_FCM_BASE_URL": base,
        "HUBBUB_PUSH_VAPID_PRIVATE_KEY_FILE": str(keys.vapid_key),
        "HUBBUB_PUSH_VAPID_SUBJECT": "mailto:ops@hubbub.test",
        "HUBBUB_PUSH_TLS_CA_FILE": str(keys.cert),
        "HUBBUB_PUSH_WEBPUSH_HOSTS": "127.0.0.1",  # the local Web Push service, named exactly
        "HUBBUB_PUSH_RETRY_BASE_MS": "50",
        "HUBBUB_PUSH_RETRY_CAP_MS": "200",
        "HUBBUB_PUSH_MAX_ATTEMPTS": "1000000",
        "HUBBUB_PASSWORD_HASH_TIME_COST": "1",
        "HUBBUB_PASSWORD_HASH_MEMORY_KIB": "8",
        "HUBBUB_PASSWORD_HASH_PARALLELISM": "1",
    }
    async with running_fake_services(keys, port) as refusing:
        refusing.answer("/v1/", *[DOWN] * 100_000)
        refusing.answer("/push/", *[DOWN] * 100_000)
        async with hubbub_up(data_dir, "--processes", "one", env=env, ready_within_s=WAIT_S) as node:
            expected = await queue_pushes(node.ws_url, base, keys)
            # Each push tried (and refused) at least once: each is in the durable queue.
            async with asyncio.timeout(WAIT_S):
                await refusing.wait_until(lambda fake: set(sent(fake)) >= expected)
            node.kill_9()
    assert queued(data_dir) == len(expected)

    async with running_fake_services(keys, port) as fake:
        async with hubbub_up(data_dir, "--processes", "one", env=env, ready_within_s=WAIT_S) as node:
            async with asyncio.timeout(WAIT_S):
                await fake.wait_until(lambda fake: set(sent(fake)) >= expected)
                # The queue file has no notification to await: poll it until it is empty.
                while queued(data_dir):  # noqa: ASYNC110
                    await asyncio.sleep(POLL_S)
            await node.stop()
        assert sent(fake) == Counter(dict.fromkeys(expected, 1))
