"""Push targets in memory (kernel/push_targets.py): one per (user, device), and one holder per
(service, token), the newest registration winning."""

from __future__ import annotations

from collections.abc import Sequence

from kernel.push_targets import PushTarget
from messaging.store.memory_data import MemoryData


class MemoryPushTargets(MemoryData):
    async def put_push_target(self, target: PushTarget, max_per_user: int) -> bool:
        mine = self._push_targets[target.user_id]
        holder = self._push_holders.get((target.service.value, target.token))
        moves_from_mine = holder is not None and holder[0] == target.user_id
        if target.device_id not in mine and len(mine) - moves_from_mine >= max_per_user:
            return False
        if holder is not None:  # the token moved (a reinstall, a device handed on): its holder loses it
            del self._push_targets[holder[0]][holder[1]]
        self._forget(mine.get(target.device_id))
        mine[target.device_id] = target
        self._push_holders[(target.service.value, target.token)] = (target.user_id, target.device_id)
        return True

    def _forget(self, target: PushTarget | None) -> None:
        if target is not None:
            del self._push_holders[(target.service.value, target.token)]

    async def push_targets(self, user_ids: Sequence[str]) -> list[PushTarget]:
        found = [t for user_id in sorted(set(user_ids)) for t in self._push_targets.get(user_id, {}).values()]
        return sorted(found, key=lambda t: (t.user_id, t.device_id))

    async def delete_push_target(self, user_id: str, device_id: str) -> bool:
        removed = self._push_targets.get(user_id, {}).pop(device_id, None)
        self._forget(removed)
        return removed is not None

    async def remove_gone_push_target(self, target: PushTarget) -> bool:
        mine = self._push_targets.get(target.user_id, {})
        held = mine.get(target.device_id)
        if held is None or held.token != target.token:
            return False
        self._forget(mine.pop(target.device_id))
        return True
