"""A stale owner's late fan-out never reaches clients: the rule (edge/stale_deliveries.py) and
RouterLinks.deliver applying it, with the map moving as ZooKeeper would move it."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import REGISTRY

from edge.codec import PushedFrame
from edge.router_link import RouterLinks
from edge.stale_deliveries import DeliveryFence, admits
from kernel.ownership import Owner, PartitionMap
from protos import client_pb2 as pb
from protos.router_pb2 import RouterBatch, RouterItem, SessionRef

P = 4
OLD = Owner("r1", "127.0.0.1:1", 3)
NEW = Owner("r2", "127.0.0.1:2", 5)


def owned_by(owner: Owner | None, version: int) -> PartitionMap:
    return PartitionMap(P, version, (owner,) * P)


def test_the_rule() -> None:
    assert admits(0, 9, 7, 9)  # unfenced: never checked
    assert admits(5, 5, 3, 0)  # the current owner
    assert admits(6, 5, 3, 5)  # a newer owner than the map knows yet
    assert admits(3, 5, 3, 0)  # the previous owner, before the new one pushed anything here
    assert not admits(3, 5, 3, 5)  # ... but never after the new owner's pushes
    assert not admits(2, 5, 3, 0)  # an owner older than the previous one
    assert admits(3, None, 3, 3)  # unowned mid-handoff: the old owner finishes
    assert not admits(3, None, 3, 5)


def test_the_fence_keeps_the_previous_epoch_across_an_unowned_moment() -> None:
    fence = DeliveryFence(owned_by(OLD, 1))
    fence.set_map(owned_by(None, 2))  # released
    fence.set_map(owned_by(NEW, 3))  # claimed by the new owner
    assert fence.admit(0, OLD.epoch)  # the old owner's last frames of a planned handoff
    assert fence.admit(0, NEW.epoch)
    assert not fence.admit(0, OLD.epoch)  # after the new owner's: out of order, dropped
    assert fence.admit(1, OLD.epoch)  # per partition
    assert fence.dropped == 1


class RecordingHub:
    def __init__(self) -> None:
        self.pushed: list[int] = []  # seqs, in delivery order

    def live_refs(self) -> list[SessionRef]:
        return []

    def deliver(self, session_ids: Sequence[int], frame: PushedFrame) -> None:
        self.pushed.append(frame.frame().message.seq)


def fan_out(seq: int, owner: Owner) -> RouterBatch:
    frame = pb.ServerFrame()
    frame.message.conversation_id = 1
    frame.message.seq = seq
    item = RouterItem(session_ids=[7], frame=frame.SerializeToString(), partition=0, owner_epoch=owner.epoch)
    return RouterBatch(items=[item])


def test_a_thawed_stale_owners_queued_fan_out_is_dropped_after_the_new_owners() -> None:
    before = REGISTRY.get_sample_value("hubbub_edge_stale_deliveries_dropped_total") or 0.0
    hub = RecordingHub()
    links = RouterLinks((), "edge-1", hub, 100, partitions=P)  # type: ignore[arg-type]
    links.set_map(owned_by(OLD, 1))
    links.deliver(fan_out(1, OLD), OLD.target)
    # Frozen past its session: the partition moves; the new owner pushes later seqs.
    links.set_map(owned_by(None, 2))
    links.set_map(owned_by(NEW, 3))
    links.deliver(fan_out(2, NEW), NEW.target)
    links.deliver(fan_out(3, NEW), NEW.target)
    # Thawed: what it had queued before the freeze arrives now.
    links.deliver(fan_out(2, OLD), OLD.target)
    links.deliver(fan_out(4, NEW), NEW.target)
    assert hub.pushed == [1, 2, 3, 4]
    assert REGISTRY.get_sample_value("hubbub_edge_stale_deliveries_dropped_total") == before + 1  # scraped


def test_a_planned_handoffs_last_fan_out_arriving_after_the_new_map_is_delivered() -> None:
    hub = RecordingHub()
    links = RouterLinks((), "edge-1", hub, 100, partitions=P)  # type: ignore[arg-type]
    links.set_map(owned_by(OLD, 1))
    links.set_map(owned_by(NEW, 2))  # the watch was quicker than the old owner's link
    links.deliver(fan_out(1, OLD), OLD.target)
    links.deliver(fan_out(2, NEW), NEW.target)
    assert hub.pushed == [1, 2]


def test_replies_and_unfenced_deliveries_are_never_dropped() -> None:
    hub = RecordingHub()
    links = RouterLinks((), "edge-1", hub, 100, partitions=P)  # type: ignore[arg-type]
    links.set_map(owned_by(NEW, 2))
    links.deliver(fan_out(5, NEW), NEW.target)
    frame = pb.ServerFrame()
    frame.message.seq = 4
    links.deliver(
        RouterBatch(items=[RouterItem(session_ids=[7], frame=frame.SerializeToString())]), OLD.target
    )
    assert hub.pushed == [5, 4]
