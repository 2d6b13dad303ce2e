"""The push targets as the router reads them: Accounts.PushTargetsOf and RemoveGonePushTarget
on the messaging service, which keeps them with the directory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kernel.grpc_boundary import call
from kernel.limits import MAX_BATCH_USERS
from kernel.push_targets import PushTarget, target_from_proto, target_to_proto
from protos import messaging_pb2

if TYPE_CHECKING:
    from protos.messaging_pb2_grpc import AccountsAsyncStub

TIMEOUT_S = 10.0


class GrpcPushTargets:
    def __init__(self, accounts: AccountsAsyncStub) -> None:
        self._accounts = accounts

    async def push_targets(self, user_ids: Sequence[str]) -> list[PushTarget]:
        found: list[PushTarget] = []
        users = sorted(set(user_ids))
        for start in range(0, len(users), MAX_BATCH_USERS):
            batch = messaging_pb2.UserList(user_ids=users[start : start + MAX_BATCH_USERS])
            reply = await call(self._accounts.PushTargetsOf(batch, timeout=TIMEOUT_S))
            found.extend(target_from_proto(t) for t in reply.targets)
        return found

    async def remove_gone_push_target(self, target: PushTarget) -> bool:
        reply = await call(self._accounts.RemoveGonePushTarget(target_to_proto(target), timeout=TIMEOUT_S))
        return reply.removed
