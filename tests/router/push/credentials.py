"""Throwaway keys and files for the push tests: a self-signed TLS certificate for 127.0.0.1,
an FCM service account (RSA), an APNs .p8 key and a VAPID key (P-256), a browser subscription."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PROJECT = "hubbub-test"
TEAM_ID = "TEAM123456"
KEY_ID = "KEY1234567"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class Credentials:
    folder: Path
    cert: Path
    key: Path
    fcm_account: Path
    apns_key: Path
    apns_public: ec.EllipticCurvePublicKey
    vapid_key: Path
    browser_key: ec.EllipticCurvePrivateKey
    browser_auth: bytes

    @property
    def p256dh(self) -> str:
        point = self.browser_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)


def make_credentials(folder: Path, token_url: str) -> Credentials:
    tls_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(tls_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(tls_key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(_pem(tls_key))
    account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    account = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "k1",
        "private_key": _pem(account_key).decode(),
        "client_email": f"push@{PROJECT}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_url,
    }
    (folder / "fcm.json").write_text(json.dumps(account))
    apns_key = ec.generate_private_key(ec.SECP256R1())
    (folder / "apns.p8").write_bytes(_pem(apns_key))
    (folder / "vapid.pem").write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    return Credentials(
        folder,
        folder / "cert.pem",
        folder / "key.pem",
        folder / "fcm.json",
        folder / "apns.p8",
        apns_key.public_key(),
        folder / "vapid.pem",
        ec.generate_private_key(ec.SECP256R1()),
        os.urandom(16),
    )
