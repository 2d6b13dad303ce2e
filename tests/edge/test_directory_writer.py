"""The edge's directory writer against the memory directory: batches in order, restates after a
failed call and after a lapsed lease, and clears the edge on a graceful stop only."""

from __future__ import annotations

from collections.abc import Sequence

from edge.directory_writer import (
    RENEW_EVERY_MAX_S,
    DirectoryWriter,
    OpenSession,
    SessionChange,
    renew_every_s,
)
from kernel.clock import ManualClock
from kernel.errors import Unavailable
from protos.router_pb2 import SessionRef
from router.directory import MemoryDirectory
from router.directory_expiry import next_wait_s

LEASE_MS = 30_000


class FlakyDirectory(MemoryDirectory):
    """Fails the next `fail` calls of write_sessions, as a Redis outage would."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.fail = 0
        self.restated: list[list[OpenSession]] = []

    async def write_sessions(self, edge_id: str, changes: Sequence[SessionChange]) -> None:
        if self.fail:
            self.fail -= 1
            raise Unavailable("directory write: redis unavailable")
        await super().write_sessions(edge_id, changes)

    async def restate_edge(self, edge_id: str, sessions: Sequence[OpenSession], lease_ms: int) -> None:
        self.restated.append(list(sessions))
        await super().restate_edge(edge_id, sessions, lease_ms)


def ref(user: str, session: int) -> SessionRef:
    return SessionRef(user_id=user, session_id=session, device_id=f"{user}-phone")


async def users(directory: MemoryDirectory, *user_ids: str) -> set[str]:
    return set(await directory.lookup(user_ids))


async def test_sessions_are_written_and_a_failed_write_is_repaired_by_a_restate() -> None:
    directory = FlakyDirectory(ManualClock())
    live: dict[int, SessionRef] = {}
    writer = DirectoryWriter(directory, "e1", LEASE_MS, lambda: list(live.values()))
    writer.start()
    try:
        await writer.settled()
        assert directory.restated == [[]], "the first write takes the lease"
        for session, user in enumerate(("ann", "ben")):
            live[session] = ref(user, session)
            writer.opened(live[session])
        await writer.settled()
        assert await users(directory, "ann", "ben") == {"ann", "ben"}

        directory.fail = 1  # this batch is lost on the way...
        writer.closed(live.pop(0))
        live[2] = ref("cat", 2)
        writer.opened(live[2])
        await writer.settled()  # ...and the restate after it states what is live
        assert directory.restated[-1] == [("ben", 1, "ben-phone"), ("cat", 2, "cat-phone")]
        assert await users(directory, "ann", "ben", "cat") == {"ben", "cat"}
        assert writer.failures == 1
    finally:
        await writer.stop()
    assert await directory.session_count() == 0, "a graceful stop clears the edge at once"


async def test_an_edge_that_stops_without_farewell_keeps_its_sessions_until_its_lease_lapses() -> None:
    clock = ManualClock()
    directory = FlakyDirectory(clock)
    writer = DirectoryWriter(directory, "e1", LEASE_MS, lambda: [ref("ann", 1)])
    writer.start()
    await writer.settled()
    await writer.stop(farewell=False)
    clock.advance(LEASE_MS - 1)
    await directory.expire()
    assert await users(directory, "ann") == {"ann"}
    clock.advance(1)
    await directory.expire()
    assert await users(directory, "ann") == set()


def test_expiry_runs_at_the_next_deadline_and_at_least_every_check() -> None:
    assert next_wait_s(None, 1_000, 1_000) == 1.0
    assert next_wait_s(1_300, 1_000, 1_000) == 0.3
    assert next_wait_s(9_000, 1_000, 1_000) == 1.0
    assert next_wait_s(500, 1_000, 1_000) == 0.0


def test_the_lease_is_renewed_thrice_per_lease_and_at_least_every_second() -> None:
    """A renewal is how an edge finds out that Redis restarted empty while none of its sessions
    changed: with a 30 s lease, a third of it would leave its users unreachable live for 10 s."""
    assert renew_every_s(900) == 0.3
    assert renew_every_s(LEASE_MS) == RENEW_EVERY_MAX_S == 1.0
