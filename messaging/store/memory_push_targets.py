"""Push targets in memory (kernel/push_targets.py)."""

from __future__ import annotations

from collections.abc import Sequence

from kernel.push_targets import PushTarget
from messaging.store.memory_data import MemoryData


class MemoryPushTargets(MemoryData):
    async def put_push_target(self, target: PushTarget, max_per_user: int) -> bool:
        mine = self._push_targets[target.user_id]
        if target.device_id not in mine and len(mine) >= max_per_user:
            return False
        mine[target.device_id] = target
        return True

    async def push_targets(self, user_ids: Sequence[str]) -> list[PushTarget]:
        found = [t for user_id in sorted(set(user_ids)) for t in self._push_targets.get(user_id, {}).values()]
        return sorted(found, key=lambda t: (t.user_id, t.device_id))

    async def delete_push_target(self, user_id: str, device_id: str) -> bool:
        return self._push_targets.get(user_id, {}).pop(device_id, None) is not None

    async def remove_gone_push_target(self, target: PushTarget) -> bool:
        mine = self._push_targets.get(target.user_id, {})
        held = mine.get(target.device_id)
        if held is None or held.token != target.token:
            return False
        del mine[target.device_id]
        return True
