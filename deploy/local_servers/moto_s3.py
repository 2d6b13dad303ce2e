"""moto's S3 server on a free loopback port: the S3-compatible object store the tests of
media/s3_store.py run against, since no real S3 (or MinIO) installs here.

moto keeps everything in memory (a restart comes back empty) and accepts any credentials;
`S3Server.client()` builds a boto3 client for it with fixed test ones."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from deploy.local_servers.process import LocalServer, free_ports, log_tail, port_open, start_server

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

HOST = "127.0.0.1"
REGION = "us-east-1"
TEST_ACCESS_KEY = "hubbub-test-access-key"
TEST_SECRET_KEY = "hubbub-test-secret-key"  # moto checks no credentials: these guard nothing
READY_TIMEOUT_S = 60.0
"""moto imports Flask and every AWS model it knows before it listens: slow on a loaded machine."""


@dataclass
class S3Server:
    port: int
    server: LocalServer

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def client(self) -> S3Client:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=TEST_ACCESS_KEY,
            aws_secret_access_key=TEST_SECRET_KEY,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def stop(self) -> None:
        self.server.stop()


def start_moto_s3(work_dir: Path) -> S3Server:
    """`moto_server` (python -m moto.server) on a free port, ready once it says it runs there
    and the port answers (its own words: another process may hold a port just found free)."""
    port = free_ports(1)[0]
    log_path = work_dir / f"moto-s3-{port}.log"
    server = start_server(
        f"moto-s3-{port}",
        [sys.executable, "-m", "moto.server", "--host", HOST, "--port", str(port)],
        log_path=log_path,
        ready=lambda: f"Running on http://{HOST}:{port}" in log_tail(log_path) and port_open(HOST, port),
        timeout=READY_TIMEOUT_S,
    )
    return S3Server(port, server)
