"""What the three HTTP senders share: one HTTP/2 client per service (TLS verified against the
system's CAs, or the file `push_tls_ca_file` names, for tests), and the status codes every push
service means the same way: 429 and 5xx are tried again, honouring Retry-After."""

from __future__ import annotations

import ssl
import time

import httpx

from router.push.rules import SendResult, Verdict, retry_after_ms

TIMEOUT_S = 10.0


def tls_verify(ca_file: str = "") -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=ca_file) if ca_file else True


def http2_client(ca_file: str = "") -> httpx.AsyncClient:
    return httpx.AsyncClient(http2=True, verify=tls_verify(ca_file), timeout=TIMEOUT_S)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def retryable(response: httpx.Response) -> SendResult | None:
    """RETRY for 429 and 5xx (with the service's Retry-After), None for any other status."""
    if response.status_code == 429 or response.status_code >= 500:
        wait = retry_after_ms(response.headers.get("retry-after"), wall_ms())
        return SendResult(Verdict.RETRY, wait, f"{response.status_code} {response.text[:200]}")
    return None


def transport_failure(exc: httpx.HTTPError) -> SendResult:
    return SendResult(Verdict.RETRY, None, f"transport: {type(exc).__name__}: {exc}")
