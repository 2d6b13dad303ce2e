"""Which router gets which frame: pure functions so partitioning can grow later.

Conversation frames go to `conversation_id % n`; receipts are split per router; frames with
no conversation (open_direct, create_group, contact) go by a stable hash of the user id.
"""

from __future__ import annotations

import random
import zlib

from protos.client_pb2 import ClientFrame


def pick_router(conversation_id: int, n_routers: int) -> int:
    return conversation_id % n_routers


def user_router(user_id: str, n_routers: int) -> int:
    return zlib.crc32(user_id.encode()) % n_routers


def route_frame(frame: ClientFrame, user_id: str, n_routers: int) -> list[tuple[int, ClientFrame]]:
    """(router index, frame) pairs for one client frame; one pair unless receipts must split."""
    if n_routers == 1:
        return [(0, frame)]
    kind = frame.WhichOneof("kind")
    if kind == "send":
        return [(pick_router(frame.send.conversation_id, n_routers), frame)]
    if kind == "typing":
        return [(pick_router(frame.typing.conversation_id, n_routers), frame)]
    if kind == "update_group":
        return [(pick_router(frame.update_group.conversation_id, n_routers), frame)]
    if kind in ("delivered", "read"):
        cursors = frame.delivered.cursors if kind == "delivered" else frame.read.cursors
        groups: dict[int, ClientFrame] = {}
        for cursor in cursors:
            index = pick_router(cursor.conversation_id, n_routers)
            part = groups.get(index)
            if part is None:
                part = groups[index] = ClientFrame(ref=frame.ref)
                part.trace.update(frame.trace)
                getattr(part, kind).SetInParent()
            getattr(part, kind).cursors.append(cursor)
        return sorted(groups.items())
    return [(user_router(user_id, n_routers), frame)]


def backoff_delay(attempt: int, rng: random.Random, *, base_s: float = 0.05, cap_s: float = 2.0) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0.0, min(cap_s, base_s * (2 ** min(attempt, 30))))
