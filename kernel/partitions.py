"""Which partition a conversation (or a frame with no conversation) belongs to: one stable rule.

P is fixed per deployment and stored with the data (it cannot silently change: every seq,
owner and fencing epoch is per partition). The hash is explicit (not Python's `hash`), so
every process, language and version agrees on it.
"""

from __future__ import annotations

import zlib

DEFAULT_PARTITIONS = 1024
"""P for a new deployment: enough to spread over many routers, few enough to list in a map."""
MAX_PARTITIONS = 65_536


def _mix64(value: int) -> int:
    """splitmix64's finaliser: Snowflake ids share their low bits (worker, sequence), so the
    partition must come from all 64 bits, not `id % P`."""
    value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
    value = (value ^ (value >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
    return value ^ (value >> 31)


def partition_of(conversation_id: int, partitions: int) -> int:
    """The partition of a conversation: a stable hash of its id, in 0..partitions-1."""
    return _mix64(conversation_id & 0xFFFFFFFFFFFFFFFF) % partitions


def user_partition(user_id: str, partitions: int) -> int:
    """Where a frame with no conversation (open a direct chat, create a group, contacts) goes:
    a stable hash of the sender, so one user's such frames keep their order."""
    return zlib.crc32(user_id.encode()) % partitions
