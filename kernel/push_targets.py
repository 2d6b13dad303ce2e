"""Where a user's offline pushes go: one registered target per (user, device) and one holder per
(service, token), and the store interface that the messaging room keeps (messaging/store) and
the router's push senders read."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from protos import client_pb2, messaging_pb2


class PushService(enum.StrEnum):
    FCM = "fcm"
    APNS = "apns"
    WEBPUSH = "webpush"


@dataclass(frozen=True, slots=True)
class PushTarget:
    """`token` is the FCM registration token, the APNs device token (hex) or the Web Push
    subscription's endpoint URL. `apns_topic` / `apns_sandbox` only for APNs; `p256dh` and
    `auth` (base64url) only for Web Push."""

    user_id: str
    device_id: str
    service: PushService
    token: str
    apns_topic: str = ""
    apns_sandbox: bool = False
    p256dh: str = ""
    auth: str = ""
    created_at_ms: int = 0


class PushTargetReader(Protocol):
    """What the router's push dispatcher needs of the store (locally, or over Accounts gRPC)."""

    async def push_targets(self, user_ids: Sequence[str]) -> list[PushTarget]: ...

    async def remove_gone_push_target(self, target: PushTarget) -> bool: ...


@runtime_checkable
class PushTargetStore(Protocol):
    async def put_push_target(self, target: PushTarget, max_per_user: int) -> bool:
        """Register (or replace) the target of (user, device). The token moves: any other
        (user, device) holding the same (service, token) loses it, since a token names one app
        install and its newest registration is the live one (a reinstall, a device handed to
        another user). False, and nothing changed, when the user already has `max_per_user`
        other devices registered (a device whose token moves here does not count)."""
        ...

    async def push_targets(self, user_ids: Sequence[str]) -> list[PushTarget]:
        """Every target of the listed users, sorted by (user, device)."""
        ...

    async def delete_push_target(self, user_id: str, device_id: str) -> bool:
        """Only the user's own; False when there was none."""
        ...

    async def remove_gone_push_target(self, target: PushTarget) -> bool:
        """Remove `target` if (user, device) still holds the same token: a service reported it
        gone, and a token registered since then must survive that stale report."""
        ...


def target_to_proto(target: PushTarget) -> messaging_pb2.StoredPushTarget:
    return messaging_pb2.StoredPushTarget(
        user_id=target.user_id,
        device_id=target.device_id,
        service=target.service.value,
        token=target.token,
        apns_topic=target.apns_topic,
        apns_sandbox=target.apns_sandbox,
        p256dh=target.p256dh,
        auth=target.auth,
        created_at_ms=target.created_at_ms,
    )


def target_from_proto(stored: messaging_pb2.StoredPushTarget) -> PushTarget:
    return PushTarget(
        stored.user_id,
        stored.device_id,
        PushService(stored.service),
        stored.token,
        stored.apns_topic,
        stored.apns_sandbox,
        stored.p256dh,
        stored.auth,
        stored.created_at_ms,
    )


def target_listing(targets: Sequence[PushTarget]) -> client_pb2.PushTargetList:
    """What a user sees of their own targets: no Web Push keys."""
    return client_pb2.PushTargetList(
        targets=[
            client_pb2.PushTargetInfo(
                device_id=t.device_id,
                service=t.service.value,
                token=t.token,
                apns_topic=t.apns_topic,
                apns_sandbox=t.apns_sandbox,
                registered_at_ms=t.created_at_ms,
            )
            for t in targets
        ]
    )
