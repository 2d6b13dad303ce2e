"""Mutual TLS between internal services, optional. With a TLS directory (one CA per deployment,
a certificate per node, its SANs naming the internal host), internal servers accept only
callers presenting a certificate of that CA, and internal channels check the server's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from kernel.errors import InvalidArgument

CA_FILE = "ca.crt"
CERT_FILE = "node.crt"
KEY_FILE = "node.key"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca: bytes
    cert: bytes
    key: bytes


def load_tls(directory: str) -> TlsFiles | None:
    """The PEM files in `directory` (ca.crt, node.crt, node.key); None when it is empty."""
    if not directory:
        return None
    contents = []
    for name in (CA_FILE, CERT_FILE, KEY_FILE):
        path = Path(directory) / name
        try:
            contents.append(path.read_bytes())
        except OSError as exc:
            raise InvalidArgument(f"internal_tls_dir: cannot read {path}: {exc.strerror}") from exc
    return TlsFiles(*contents)


def server_credentials(tls: TlsFiles) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(tls.key, tls.cert)], root_certificates=tls.ca, require_client_auth=True
    )


def channel_credentials(tls: TlsFiles) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca, private_key=tls.key, certificate_chain=tls.cert
    )
