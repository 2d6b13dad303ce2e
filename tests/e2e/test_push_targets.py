"""Push target frames on a running node: a device registers its target, sees and deletes its
own (never another user's); bad registrations get INVALID_ARGUMENT and the connection lives on."""

from __future__ import annotations

import base64

from deploy.single_node import SingleNode
from edge.codec import JsonCodec
from protos import client_pb2 as pb
from tests.e2e.wire_client import WireClient

P256DH = base64.urlsafe_b64encode(b"\x04" + b"k" * 64).rstrip(b"=").decode()
AUTH = base64.urlsafe_b64encode(b"a" * 16).rstrip(b"=").decode()
FCM = "https://fcm.googleapis.com/fcm/send"


def register(**target: object) -> pb.ClientFrame:
    return pb.ClientFrame(push_register=pb.RegisterPushTarget(**target))  # type: ignore[arg-type]


async def test_a_device_registers_lists_and_deletes_its_own_targets(node: SingleNode) -> None:
    phone = await WireClient.sign_up(node.ws_url, "alice", "phone")
    laptop = await WireClient.with_token(node.ws_url, phone.welcome.token, "laptop")
    bob = await WireClient.sign_up(node.ws_url, "bob", "phone")
    try:
        apns = pb.ApnsTarget(token="ab" * 32, topic="chat.hubbub", sandbox=True)
        reply = await phone.request(register(apns=apns))
        assert [(t.device_id, t.service, t.apns_sandbox) for t in reply.push_targets.targets] == [
            ("phone", "apns", True)
        ]
        web = pb.WebPushTarget(endpoint="https://fcm.googleapis.com/fcm/send/sub-1", p256dh=P256DH, auth=AUTH)
        reply = await laptop.request(register(web_push=web))
        assert [(t.device_id, t.token) for t in reply.push_targets.targets] == [
            ("laptop", "https://fcm.googleapis.com/fcm/send/sub-1"),
            ("phone", "ab" * 32),
        ]
        await bob.request(register(fcm=pb.FcmTarget(token="bob-token:1")))
        # Bob cannot delete Alice's phone: a device id names one of his own devices.
        reply = await bob.request(pb.ClientFrame(push_delete=pb.DeletePushTarget(device_id="laptop")))
        assert [t.device_id for t in reply.push_targets.targets] == ["phone"]
        reply = await phone.request(pb.ClientFrame(push_delete=pb.DeletePushTarget()))  # this device
        assert [t.device_id for t in reply.push_targets.targets] == ["laptop"]
        listed = await laptop.request(pb.ClientFrame(push_list=pb.ListPushTargets()))
        assert [t.device_id for t in listed.push_targets.targets] == ["laptop"]
    finally:
        for client in (phone, laptop, bob):
            await client.close()


async def test_a_token_registered_by_another_user_moves_to_them(node: SingleNode) -> None:
    """The phone alice registered is handed to bob, who signs in on it: the app's token is the
    same, and from then on the pushes for it are his, not hers as well."""
    alice = await WireClient.sign_up(node.ws_url, "alice", "phone")
    bob = await WireClient.sign_up(node.ws_url, "bob", "handed-on-phone")
    try:
        await alice.request(register(fcm=pb.FcmTarget(token="same-install:1")))
        reply = await bob.request(register(fcm=pb.FcmTarget(token="same-install:1")))
        assert [(t.device_id, t.token) for t in reply.push_targets.targets] == [
            ("handed-on-phone", "same-install:1")
        ]
        listed = await alice.request(pb.ClientFrame(push_list=pb.ListPushTargets()))
        assert list(listed.push_targets.targets) == []
    finally:
        for client in (alice, bob):
            await client.close()


async def test_bad_registrations_are_refused_and_the_connection_lives_on(node: SingleNode) -> None:
    alice = await WireClient.sign_up(node.ws_url, "alice", "phone")
    try:
        bad = [
            register(),
            register(fcm=pb.FcmTarget(token="")),
            register(fcm=pb.FcmTarget(token="x" * 5000)),
            register(apns=pb.ApnsTarget(token="not-hex", topic="chat.hubbub")),
            register(apns=pb.ApnsTarget(token="ab" * 32, topic="")),
            register(web_push=pb.WebPushTarget(endpoint="http://push.example/1", p256dh=P256DH, auth=AUTH)),
            # a port that is no number, and control characters (they failed later, in the sender)
            register(web_push=pb.WebPushTarget(endpoint="https://h:abc/push", p256dh=P256DH, auth=AUTH)),
            register(web_push=pb.WebPushTarget(endpoint="https://h/p\x01", p256dh=P256DH, auth=AUTH)),
            register(web_push=pb.WebPushTarget(endpoint=f"{FCM}/1", p256dh="AAAA", auth=AUTH)),
            register(web_push=pb.WebPushTarget(endpoint=f"{FCM}/1", p256dh=P256DH, auth="AAAA")),
            # hosts the router must never POST to: off the allow-list, or inside the network
            *(
                register(web_push=pb.WebPushTarget(endpoint=endpoint, p256dh=P256DH, auth=AUTH))
                for endpoint in (
                    "https://push.example/1",
                    "https://localhost/push",
                    "https://127.0.0.1:8443/push",
                    "https://169.254.169.254/latest/meta-data",
                    "https://[::1]/push",
                    "https://user@10.0.0.1/push",
                )
            ),
        ]
        for frame in bad:
            reply = await alice.request(frame)
            assert (reply.WhichOneof("kind"), reply.error.code) == ("error", "INVALID_ARGUMENT"), frame
        assert "internal address" in (await alice.request(bad[-1])).error.message
        listed = await alice.request(pb.ClientFrame(push_list=pb.ListPushTargets()))
        assert list(listed.push_targets.targets) == []
    finally:
        await alice.close()


def test_the_json_subprotocol_spells_the_frames_in_camel_case() -> None:
    frame = JsonCodec().decode(
        b'{"ref": 3, "pushRegister": {"webPush": '
        b'{"endpoint": "https://p.example/1", "p256dh": "k", "auth": "a"}}}'
    )
    assert frame.push_register.web_push.endpoint == "https://p.example/1"
    assert JsonCodec().decode(b'{"pushDelete": {"deviceId": "phone"}}').push_delete.device_id == "phone"
    assert JsonCodec().decode(b'{"pushList": {}}').WhichOneof("kind") == "push_list"
