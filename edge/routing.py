"""Which router gets which frame: pure functions over the partition map (kernel/ownership.py).

Conversation frames go to the owner of `partition_of(conversation_id, P)`; receipts are split
per owner; frames with no conversation (open_direct, create_group, contact) go to the owner of
`user_partition(user_id, P)`. A partition with no owner right now (mid-handoff) routes to None:
the frame waits for the next map.
"""

from __future__ import annotations

from kernel.ownership import PartitionMap
from kernel.partitions import partition_of, user_partition
from protos.client_pb2 import ClientFrame


def frame_partition(frame: ClientFrame, user_id: str, partitions: int) -> int | None:
    """The one partition a non-receipt frame belongs to (None for receipts: split per cursor)."""
    kind = frame.WhichOneof("kind")
    if kind == "send":
        return partition_of(frame.send.conversation_id, partitions)
    if kind == "delete_message":
        return partition_of(frame.delete_message.conversation_id, partitions)
    if kind == "typing":
        return partition_of(frame.typing.conversation_id, partitions)
    if kind == "update_group":
        return partition_of(frame.update_group.conversation_id, partitions)
    if kind in ("delivered", "read"):
        return None
    return user_partition(user_id, partitions)


def log_write_partition(frame: ClientFrame, partitions: int) -> int | None:
    """The partition of a frame that writes its conversation's log (a send or a deletion):
    the frames whose order and answers the edge keeps track of (edge/send_order.py); None
    for any other frame."""
    kind = frame.WhichOneof("kind")
    if kind == "send":
        return partition_of(frame.send.conversation_id, partitions)
    if kind == "delete_message":
        return partition_of(frame.delete_message.conversation_id, partitions)
    return None


def _target(partition_map: PartitionMap, partition: int) -> str | None:
    owner = partition_map.owners[partition]
    return owner.target if owner is not None else None


Route = list[tuple[str | None, ClientFrame]]


def route_frame(frame: ClientFrame, user_id: str, partition_map: PartitionMap) -> Route:
    """(router target, frame) pairs for one client frame; one pair unless receipts must split
    over several owners. Target None = the partition has no owner now."""
    partitions = partition_map.partitions
    partition = frame_partition(frame, user_id, partitions)
    if partition is not None:
        return [(_target(partition_map, partition), frame)]
    kind = "delivered" if frame.WhichOneof("kind") == "delivered" else "read"
    cursors = frame.delivered.cursors if kind == "delivered" else frame.read.cursors
    targets = {_target(partition_map, partition_of(c.conversation_id, partitions)) for c in cursors}
    if not targets:
        return [(_target(partition_map, user_partition(user_id, partitions)), frame)]
    if len(targets) == 1:
        return [(targets.pop(), frame)]
    groups: dict[str | None, ClientFrame] = {}
    for cursor in cursors:
        target = _target(partition_map, partition_of(cursor.conversation_id, partitions))
        part = groups.get(target)
        if part is None:
            part = groups[target] = ClientFrame(ref=frame.ref)
            part.trace.update(frame.trace)
            getattr(part, kind).SetInParent()
        getattr(part, kind).cursors.append(cursor)
    return sorted(groups.items(), key=lambda pair: pair[0] or "")
