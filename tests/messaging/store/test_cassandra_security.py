"""Cassandra authentication and TLS options, as far as this machine can prove them.

Proven here: the options are read from the environment and checked (a lone username, a
missing file: a clear error at start-up); the session gets the driver's PlainTextAuthProvider
with the role's credentials and an ssl_context; that context really completes a mutual TLS
handshake with a server whose certificate the CA signed (and presents the client certificate
such a server requires), and refuses a server of another CA.
Not proven here: a login and a TLS session against a real Cassandra (the Cassandra 1.2 the
tests run has neither PasswordAuthenticator roles nor client encryption enabled)."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from pathlib import Path

import pytest
from cassandra.auth import PlainTextAuthProvider
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kernel.config import from_env
from kernel.errors import InvalidArgument
from messaging.config import CassandraOptions, MessagingConfig
from messaging.store.cassandra.session import security, tls_context


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = (subject, key) if issuer is None else issuer
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        san = x509.SubjectAlternativeName([x509.DNSName("localhost")])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def make_pki(directory: Path, ca_name: str = "test-ca") -> Path:
    """ca.pem, server.pem/.key (for localhost) and client.pem/.key, all signed by one CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue(ca_name, ca_key, None)
    _write(directory, "ca", ca, ca_key)
    for name in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(
            directory,
            name,
            _issue("localhost" if name == "server" else "hubbub", key, (ca_name, ca_key)),
            key,
        )
    return directory


def tls_options(pki: Path) -> CassandraOptions:
    return CassandraOptions(
        tls_ca_file=str(pki / "ca.pem"),
        tls_cert_file=str(pki / "client.pem"),
        tls_key_file=str(pki / "client.key"),
    )


async def handshake(client: ssl.SSLContext, server_pki: Path, client_ca: Path) -> str:
    """Serve TLS on a free loopback port with `server_pki`'s certificate, requiring a client
    certificate signed by `client_ca`; connect with `client`; the client certificate's CN."""
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(client_ca))
    served.load_cert_chain(server_pki / "server.pem", server_pki / "server.key")
    served.verify_mode = ssl.CERT_REQUIRED
    peers: asyncio.Queue[str] = asyncio.Queue()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert")
        await peers.put(dict(item[0] for item in peer["subject"])["commonName"])
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=served)
    port = server.sockets[0].getsockname()[1]
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client, server_hostname="localhost")
        try:
            async with asyncio.timeout(10):
                return await peers.get()
        finally:
            writer.close()
    finally:
        server.close()
        await server.wait_closed()


def test_credentials_come_from_the_environment_and_reach_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBBUB_CASSANDRA_USERNAME", "hubbub")
    monkeypatch.setenv("HUBBUB_CASSANDRA_PASSWORD", "s3cret")
    options = from_env(MessagingConfig).cassandra()
    assert "s3cret" not in repr(options)
    extra = security(options)
    provider = extra["auth_provider"]
    assert isinstance(provider, PlainTextAuthProvider)
    assert (provider.username, provider.password) == ("hubbub", "s3cret")
    assert "ssl_context" not in extra


def test_no_options_no_authentication_and_no_tls() -> None:
    assert security(CassandraOptions()) == {}


def test_half_given_options_are_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="cassandra_password"):
        MessagingConfig(cassandra_username="hubbub")
    with pytest.raises(InvalidArgument, match="cassandra_tls_key_file"):
        MessagingConfig(cassandra_tls_cert_file=str(tmp_path / "x.pem"))
    with pytest.raises(InvalidArgument, match="no such file"):
        MessagingConfig(cassandra_tls_ca_file=str(tmp_path / "absent.pem"))


async def test_the_tls_context_completes_a_mutual_handshake_with_the_cas_server(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    context = security(tls_options(pki))["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert await handshake(context, pki, pki / "ca.pem") == "hubbub"  # our certificate was shown


async def test_a_server_of_another_ca_is_refused(tmp_path: Path) -> None:
    ours, theirs = make_pki(tmp_path / "ours"), make_pki(tmp_path / "theirs", "other-ca")
    context = tls_context(tls_options(ours))
    assert context is not None
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(context, theirs, ours / "ca.pem")
