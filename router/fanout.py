"""Pure planning of who receives a frame: members x directory placement -> per-edge session
lists, plus the members nobody can reach (for push). No I/O, so it is tested without sockets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from protos import client_pb2
from router.directory import Placement

# (edge_id, session_id): one session anywhere.
SessionKey = tuple[str, int]


@dataclass(slots=True)
class FanoutPlan:
    targets: dict[str, list[int]] = field(default_factory=dict)  # edge_id -> session ids
    offline: list[str] = field(default_factory=list)  # users with no session at all


def plan_fanout(
    users: Iterable[str],
    placement: Placement,
    *,
    exclude: SessionKey | None = None,
    not_offline: str | None = None,
) -> FanoutPlan:
    """Every session of every user except `exclude` (the sending session), grouped by edge.

    `offline` lists users without any session, leaving out `not_offline` (the sender, who never
    needs a push for their own message). A user whose only session is `exclude` is not offline.
    """
    plan = FanoutPlan()
    targets = plan.targets
    excluded_edge, excluded_session = exclude if exclude is not None else ("", -1)
    for user in users:
        edges = placement.get(user)
        if not edges:
            if user != not_offline:
                plan.offline.append(user)
            continue
        for edge_id, entries in edges.items():
            if edge_id == excluded_edge:
                ids = [sid for sid, _ in entries if sid != excluded_session]
                if not ids:
                    continue
            else:
                ids = [sid for sid, _ in entries]
            bucket = targets.get(edge_id)
            if bucket is None:
                targets[edge_id] = ids
            else:
                bucket.extend(ids)
    return plan


def without_session(plan: FanoutPlan, exclude: SessionKey, sender: str, placement: Placement) -> FanoutPlan:
    """`plan` (made without exclusions) minus one session and with `sender` never offline: the
    same result as planning again with `exclude`/`not_offline`, at the cost of one edge's list.
    Lets a batch plan a conversation once and reuse it for each of its messages."""
    targets = plan.targets
    edge_id, session_id = exclude
    ids = targets.get(edge_id)
    if ids is not None and session_id in ids:
        targets = dict(targets)
        remaining = [sid for sid in ids if sid != session_id]
        if remaining:
            targets[edge_id] = remaining
        else:
            del targets[edge_id]
    offline = plan.offline
    if not placement.get(sender):
        offline = [user for user in offline if user != sender]
    return FanoutPlan(targets, offline)


def receipt_audience(
    kind: client_pb2.ConversationKind.ValueType,
    members: Iterable[str],
    acker_id: str,
    covered_senders: Iterable[str],
) -> set[str]:
    """Users who hear that `acker_id` received/read a conversation up to some seq.

    Direct chats: both members (the acking session itself is excluded later). Groups: only the
    acker's other devices and the senders of the covered messages, so a 500-member group does
    not broadcast every read to everyone.
    """
    if kind == client_pb2.CONVERSATION_KIND_DIRECT:
        audience = set(members)
        audience.add(acker_id)
        return audience
    audience = set(covered_senders)
    audience.add(acker_id)
    return audience


def typing_audience(members: Iterable[str], typist: str) -> list[str]:
    """The other members: a typist's own devices never see their own indicator."""
    return [user for user in members if user != typist]
