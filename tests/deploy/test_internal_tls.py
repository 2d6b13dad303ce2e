"""Mutual TLS between internal services, the option beside the internal secret: a node with
`internal_tls_dir` chats end to end, and its internal services refuse plaintext callers and
TLS callers without a certificate of the deployment's CA, even when they hold the secret."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
from grpc import aio

from deploy.single_node import start_single_node
from kernel.grpc_server import CHANNEL_OPTIONS, insecure_channel
from kernel.internal_auth import internal_metadata
from kernel.internal_tls import CA_FILE, CERT_FILE, KEY_FILE
from protos import client_pb2 as pb
from protos import messaging_pb2, messaging_pb2_grpc
from tests.e2e.conftest import config_for_tests
from tests.e2e.wire_client import WireClient

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca_and_cert(directory: Path, prefix: str = "") -> None:
    """A CA and a node certificate for 127.0.0.1 signed by it: ca.crt, node.crt, node.key."""
    directory.mkdir(parents=True)
    days = ("-days", "2")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", CA_FILE,
             "-subj", f"/CN={prefix}hubbub-test-ca", *days, cwd=directory)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", KEY_FILE, "-out", "node.csr",
             "-subj", "/CN=127.0.0.1", cwd=directory)  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "node.csr", "-CA", CA_FILE, "-CAkey", "ca.key", "-CAcreateserial",
             "-out", CERT_FILE, "-extfile", "san.ext", *days, cwd=directory)  # fmt: skip


async def _history(channel: aio.Channel, secret: str, conv: int) -> pb.HistoryPage | grpc.StatusCode:
    request = messaging_pb2.HistoryRequest(user_id="bob", query=pb.FetchHistory(conversation_id=conv))
    try:
        stub = messaging_pb2_grpc.MessagingStub(channel)
        return await stub.History(request, metadata=internal_metadata(secret), timeout=5)
    except grpc.aio.AioRpcError as exc:
        return exc.code()


@pytest.mark.parametrize("layout", ["one", "edge", "edge/messaging"])
async def test_a_node_with_mutual_tls_chats_and_refuses_callers_without_a_certificate(
    tmp_path: Path, layout: str
) -> None:
    tls_dir = tmp_path / "tls"
    make_ca_and_cert(tls_dir)
    make_ca_and_cert(tmp_path / "other", prefix="other-")  # another CA: not this deployment's
    node = await start_single_node(
        config_for_tests(tmp_path, internal_tls_dir=str(tls_dir), processes=layout)
    )
    try:
        alice = await WireClient.sign_up(node.ws_url, "alice")
        bob = await WireClient.sign_up(node.ws_url, "bob")
        reply = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
        conv = reply.conversation.conversation_id
        assert (await alice.send_text(conv, "over mTLS", "t-1")).sent.seq == 1
        (got,) = await bob.messages(1, conv)
        assert got.body == "over mTLS"
        secret = node.config.internal_secret
        target = node.messaging_target

        async with insecure_channel(target) as plaintext:
            assert await _history(plaintext, secret, conv) == grpc.StatusCode.UNAVAILABLE
        ca = (tls_dir / CA_FILE).read_bytes()
        no_cert = grpc.ssl_channel_credentials(root_certificates=ca)
        async with aio.secure_channel(target, no_cert, options=CHANNEL_OPTIONS) as anonymous:
            assert await _history(anonymous, secret, conv) == grpc.StatusCode.UNAVAILABLE
        other = tmp_path / "other"
        foreign = grpc.ssl_channel_credentials(
            root_certificates=ca,
            private_key=(other / KEY_FILE).read_bytes(),
            certificate_chain=(other / CERT_FILE).read_bytes(),
        )
        async with aio.secure_channel(target, foreign, options=CHANNEL_OPTIONS) as stranger:
            assert await _history(stranger, secret, conv) == grpc.StatusCode.UNAVAILABLE
        ours = grpc.ssl_channel_credentials(
            root_certificates=ca,
            private_key=(tls_dir / KEY_FILE).read_bytes(),
            certificate_chain=(tls_dir / CERT_FILE).read_bytes(),
        )
        async with aio.secure_channel(target, ours, options=CHANNEL_OPTIONS) as member:
            assert await _history(member, "", conv) == grpc.StatusCode.UNAUTHENTICATED  # both needed
            page = await _history(member, secret, conv)
            assert isinstance(page, pb.HistoryPage)
            assert [m.body for m in page.messages] == ["over mTLS"]
        for c in (alice, bob):
            await c.close()
    finally:
        await node.stop()
