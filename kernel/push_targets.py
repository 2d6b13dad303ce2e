"""Where a user's offline pushes go: one registered target per (user, device), and the store
interface that the messaging room keeps (messaging/store) and the router's push senders read."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


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


class PushTargetStore(Protocol):
    async def put_push_target(self, target: PushTarget, max_per_user: int) -> bool:
        """Register (or replace) the target of (user, device). False, and nothing stored, when
        the user already has `max_per_user` other devices registered."""
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
