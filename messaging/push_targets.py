"""The push targets of users' devices (kernel/push_targets.py, docs/push.md): a user registers,
lists and deletes only their own; the router's dispatcher reads them and removes gone ones.
Frames are range-checked at the edge (edge/validation.py); this keeps the per-user cap."""

from __future__ import annotations

from collections.abc import Sequence

from kernel.clock import Clock
from kernel.errors import InvalidArgument, LimitExceeded
from kernel.limits import MAX_PUSH_TARGETS_PER_USER
from kernel.push_targets import PushService, PushTarget, PushTargetStore
from protos import client_pb2


def target_of(
    user_id: str, device_id: str, request: client_pb2.RegisterPushTarget, now_ms: int
) -> PushTarget:
    kind = request.WhichOneof("target")
    if kind == "fcm":
        return PushTarget(user_id, device_id, PushService.FCM, request.fcm.token, created_at_ms=now_ms)
    if kind == "apns":
        apns = request.apns
        return PushTarget(
            user_id,
            device_id,
            PushService.APNS,
            apns.token.lower(),
            apns.topic,
            apns.sandbox,
            created_at_ms=now_ms,
        )
    if kind == "web_push":
        web = request.web_push
        return PushTarget(
            user_id,
            device_id,
            PushService.WEBPUSH,
            web.endpoint,
            p256dh=web.p256dh,
            auth=web.auth,
            created_at_ms=now_ms,
        )
    raise InvalidArgument("pushRegister needs one of fcm, apns, webPush")


class PushTargets:
    def __init__(self, store: PushTargetStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def register(
        self, user_id: str, device_id: str, request: client_pb2.RegisterPushTarget
    ) -> list[PushTarget]:
        if not device_id:
            raise InvalidArgument("pushRegister needs the session's device id")
        target = target_of(user_id, device_id, request, self._clock.now_ms())
        if not await self._store.put_push_target(target, MAX_PUSH_TARGETS_PER_USER):
            raise LimitExceeded(
                f"at most {MAX_PUSH_TARGETS_PER_USER} devices may have push targets: delete one first"
            )
        return await self._store.push_targets([user_id])

    async def of_user(self, user_id: str) -> list[PushTarget]:
        return await self._store.push_targets([user_id])

    async def delete(self, user_id: str, device_id: str) -> list[PushTarget]:
        """Idempotent: deleting a device with no target answers with the list all the same."""
        await self._store.delete_push_target(user_id, device_id)
        return await self._store.push_targets([user_id])

    async def targets_of(self, user_ids: Sequence[str]) -> list[PushTarget]:
        return await self._store.push_targets(user_ids)

    async def remove_gone(self, target: PushTarget) -> bool:
        return await self._store.remove_gone_push_target(target)
