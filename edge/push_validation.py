"""Checks of the push target frames (docs/push.md), before anything reaches messaging: a token
the service could not use, a Web Push endpoint that is not https or keys of the wrong size are
INVALID_ARGUMENT for that frame alone; so is an endpoint on a host that is not an allowed push
service or is an internal address (check_webpush_host, with the edge's allow-list)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from kernel.errors import InvalidArgument
from kernel.limits import (
    MAX_APNS_TOPIC_CHARS,
    MAX_DEVICE_ID_CHARS,
    MAX_PUSH_TOKEN_CHARS,
    MAX_WEBPUSH_ENDPOINT_CHARS,
    WEBPUSH_AUTH_BYTES,
    WEBPUSH_P256DH_BYTES,
)
from kernel.webpush_hosts import host_refusal
from protos.client_pb2 import ClientFrame

_FCM_TOKEN = re.compile(r"[A-Za-z0-9_:\-.]+")
_APNS_TOKEN = re.compile(r"(?:[0-9a-fA-F]{2}){32,100}")
_TOPIC = re.compile(r"[A-Za-z0-9_\-.]+")


def _b64url_bytes(value: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgument(f"pushRegister webPush {what} is not base64url") from exc


def check_push_register(frame: ClientFrame) -> None:
    request = frame.push_register
    kind = request.WhichOneof("target")
    if kind == "fcm":
        token = request.fcm.token
        if not token or len(token) > MAX_PUSH_TOKEN_CHARS or not _FCM_TOKEN.fullmatch(token):
            raise InvalidArgument(
                f"pushRegister fcm token must be 1..{MAX_PUSH_TOKEN_CHARS} token characters"
            )
    elif kind == "apns":
        apns = request.apns
        if len(apns.token) > MAX_PUSH_TOKEN_CHARS or not _APNS_TOKEN.fullmatch(apns.token):
            raise InvalidArgument("pushRegister apns token must be hex (at least 32 bytes)")
        if not apns.topic or len(apns.topic) > MAX_APNS_TOPIC_CHARS or not _TOPIC.fullmatch(apns.topic):
            raise InvalidArgument(
                f"pushRegister apns topic must be a bundle id of 1..{MAX_APNS_TOPIC_CHARS} characters"
            )
    elif kind == "web_push":
        web = request.web_push
        try:
            parts = urlsplit(web.endpoint)
            host = parts.hostname
            _ = parts.port  # a port that is not a number raises here, not in the push sender
        except ValueError:
            host = None
        printable = web.endpoint.isprintable() and " " not in web.endpoint
        https = web.endpoint.startswith("https://") and host and printable
        if len(web.endpoint) > MAX_WEBPUSH_ENDPOINT_CHARS or not https:
            raise InvalidArgument(
                "pushRegister webPush endpoint must be an https URL of at most "
                f"{MAX_WEBPUSH_ENDPOINT_CHARS} characters"
            )
        key = _b64url_bytes(web.p256dh, "p256dh")
        if len(key) != WEBPUSH_P256DH_BYTES or key[0] != 4:
            raise InvalidArgument("pushRegister webPush p256dh must be an uncompressed P-256 key (65 bytes)")
        if len(_b64url_bytes(web.auth, "auth")) != WEBPUSH_AUTH_BYTES:
            raise InvalidArgument(f"pushRegister webPush auth must be {WEBPUSH_AUTH_BYTES} bytes")
    else:
        raise InvalidArgument("pushRegister needs one of fcm, apns, webPush")


def check_webpush_host(frame: ClientFrame, allowed: Sequence[str]) -> None:
    """A Web Push endpoint must name an allowed push service, never an internal address
    (kernel/webpush_hosts.py): the router would POST to it. Run after check_push_register."""
    if frame.push_register.WhichOneof("target") != "web_push":
        return
    refusal = host_refusal(urlsplit(frame.push_register.web_push.endpoint).hostname or "", allowed)
    if refusal is not None:
        raise InvalidArgument(f"pushRegister webPush endpoint refused: {refusal}")


def check_push_delete(frame: ClientFrame) -> None:
    if len(frame.push_delete.device_id) > MAX_DEVICE_ID_CHARS:
        raise InvalidArgument(f"pushDelete deviceId is longer than {MAX_DEVICE_ID_CHARS} characters")
