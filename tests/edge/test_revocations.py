"""An edge's side of log-out-everywhere events (edge/revocations.py) over the in-process bus:
another edge's revocation closes the user's sessions here and raises the cached generation,
this edge's own is ignored (it closed its sessions already), and a subscription cut off is
renewed by itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from edge.codec import PushedFrame
from edge.hub import Hub
from edge.revocations import REVOKED_DETAIL, Revocations, revocation_event
from edge.token_check import TokenGenerations
from kernel.clock import ManualClock
from kernel.cluster_events import MemoryEventBus
from protos.client_pb2 import ServerFrame
from protos.router_pb2 import SessionRef

WAIT_S = 10.0


class Member:
    def __init__(self, session_id: int, user_id: str, token_generation: int = 0) -> None:
        self.ref = SessionRef(session_id=session_id, user_id=user_id)
        self.token_generation = token_generation
        self.revoked: list[str] = []
        self.was_revoked = asyncio.Event()

    def push(self, pushed: PushedFrame) -> None:
        pass

    def tick(self, now_ms: int) -> None:
        pass

    def revoke(self, detail: str) -> None:
        self.revoked.append(detail)
        self.was_revoked.set()

    def send(self, frame: ServerFrame) -> None:
        pass

    def shut(self, code: int, reason: str) -> None:
        pass

    def queued_bytes(self) -> int:
        return 0


async def no_accounts(users: list[str]) -> dict[str, int]:
    return {user: 1 for user in users}


@pytest.fixture
async def setup() -> AsyncIterator[tuple[MemoryEventBus, Hub, TokenGenerations, Revocations]]:
    bus, hub = MemoryEventBus(), Hub()
    tokens = TokenGenerations(no_accounts, ManualClock(0), ttl_ms=60_000, capacity=100)
    revocations = Revocations(bus, hub, tokens, "edge-1")
    follower = asyncio.create_task(revocations.follow())
    await asyncio.wait_for(revocations.subscribed.wait(), WAIT_S)
    yield bus, hub, tokens, revocations
    follower.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await follower
    await bus.close()


async def test_another_edges_revocation_closes_the_users_sessions_here(
    setup: tuple[MemoryEventBus, Hub, TokenGenerations, Revocations],
) -> None:
    bus, hub, tokens, _ = setup
    alice, bob = Member(1, "alice"), Member(2, "bob")
    for member in (alice, bob):
        hub.add(member)
        hub.register(member)
    await bus.publish(revocation_event("alice", 7, "edge-2"))
    await asyncio.wait_for(alice.was_revoked.wait(), WAIT_S)
    assert (alice.revoked, bob.revoked) == ([REVOKED_DETAIL], [])
    assert tokens.cached("alice") == 7, "a token of an older generation is refused here at once"


async def test_its_own_revocation_and_a_bad_event_close_nothing(
    setup: tuple[MemoryEventBus, Hub, TokenGenerations, Revocations],
) -> None:
    _, hub, _, revocations = setup
    alice = Member(1, "alice")
    hub.add(alice)
    hub.register(alice)
    assert revocations.apply(revocation_event("alice", 7, "edge-1")) == 0
    bad = revocation_event("alice", 7, "edge-2")
    assert revocations.apply(type(bad)(bad.topic, {"user_id": "alice", "generation": "x"})) == 1
    assert revocations.apply(type(bad)(bad.topic, {})) == 0
    assert alice.revoked == [REVOKED_DETAIL]


async def test_a_subscription_cut_off_is_renewed(
    setup: tuple[MemoryEventBus, Hub, TokenGenerations, Revocations],
) -> None:
    bus, hub, _, revocations = setup
    (queue,) = list(bus._queues)
    revocations.subscribed.clear()
    queue.cut_off()  # what an overflow or a broken Redis feed does
    await asyncio.wait_for(revocations.subscribed.wait(), WAIT_S)
    alice = Member(1, "alice")
    hub.add(alice)
    hub.register(alice)
    await bus.publish(revocation_event("alice", 8, "edge-2"))
    await asyncio.wait_for(alice.was_revoked.wait(), WAIT_S)


async def test_a_late_revocation_spares_the_sessions_that_logged_in_after_it(
    setup: tuple[MemoryEventBus, Hub, TokenGenerations, Revocations],
) -> None:
    """The event raised alice's generation to 7; it reached this edge after she logged in
    again (a token of generation 7): that session stays, the one of generation 6 closes."""
    _, hub, _, revocations = setup
    before, after = Member(1, "alice", token_generation=6), Member(2, "alice", token_generation=7)
    for member in (before, after):
        hub.add(member)
        hub.register(member)
    assert revocations.apply(revocation_event("alice", 7, "edge-2")) == 1
    assert (before.revoked, after.revoked) == ([REVOKED_DETAIL], [])
