"""Presence values to and from protobuf, kept apart so rules and backends never see gRPC."""

from __future__ import annotations

from collections.abc import Iterable

from presence.model import EdgeReport, SessionChange, UserPresence
from protos import client_pb2, presence_pb2

_ONLINE = client_pb2.PRESENCE_STATUS_ONLINE
_OFFLINE = client_pb2.PRESENCE_STATUS_OFFLINE


def report_from_proto(message: presence_pb2.EdgeReport) -> EdgeReport:
    return EdgeReport(
        edge_id=message.edge_id,
        lease_ms=message.lease_ms,
        changes=tuple(SessionChange(c.user_id, c.device_id, c.session_id, c.online) for c in message.changes),
        full_snapshot=message.full_snapshot,
    )


def report_to_proto(report: EdgeReport) -> presence_pb2.EdgeReport:
    """For edges and tests that build reports from domain values."""
    return presence_pb2.EdgeReport(
        edge_id=report.edge_id,
        lease_ms=report.lease_ms,
        changes=[
            presence_pb2.SessionChange(
                user_id=c.user_id, device_id=c.device_id, session_id=c.session_id, online=c.online
            )
            for c in report.changes
        ],
        full_snapshot=report.full_snapshot,
    )


def event_to_proto(user: UserPresence) -> client_pb2.PresenceEvent:
    return client_pb2.PresenceEvent(
        user_id=user.user_id, status=_ONLINE if user.online else _OFFLINE, last_seen_ms=user.last_seen_ms
    )


def event_from_proto(event: client_pb2.PresenceEvent) -> UserPresence:
    return UserPresence(event.user_id, event.status == _ONLINE, event.last_seen_ms)


def snapshot_to_proto(users: Iterable[UserPresence]) -> presence_pb2.PresenceSnapshot:
    return presence_pb2.PresenceSnapshot(users=[event_to_proto(u) for u in users])
