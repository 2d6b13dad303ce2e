"""Log out everywhere across edges: the edge that took the revocation publishes it as a cluster
event (kernel/cluster_events.py: in-process on a node, Redis pub/sub on a cluster), and every
other edge closes that user's sessions on it, as the first edge closed its own (an
UNAUTHENTICATED error, then 4001). The event is a fast path, never the guard: a token issued
before the revocation is refused at its next check whether the event came or not (the
generation cache's TTL, edge/token_check.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from edge.hub import Hub
from edge.token_check import TokenGenerations
from kernel.backoff import backoff_delay
from kernel.cluster_events import LOG_OUT_EVERYWHERE, ClusterEvent, EventBus
from kernel.errors import HubbubError

log = logging.getLogger(__name__)

REVOKED_DETAIL = "logged out everywhere: log in again"
PUBLISH_TIMEOUT_S = 2.0
"""The longest a log-out waits on the bus before it answers anyway (the event is best effort)."""
MAX_PENDING_EVENTS = 1024
"""Revocations buffered for this edge before its subscription is cut off and renewed."""


def revoked_by(token_generation: int, generation: int) -> bool:
    """Whether a session whose token is of `token_generation` is closed by a log-out-everywhere
    that raised the user's generation to `generation`: a session that logged in after it (a
    token of that generation or later) stays, however late the event comes."""
    return token_generation < generation


def revocation_event(user_id: str, generation: int, edge_id: str) -> ClusterEvent:
    return ClusterEvent(
        LOG_OUT_EVERYWHERE, {"user_id": user_id, "generation": str(generation), "edge_id": edge_id}
    )


class Revocations:
    """This edge's side of the event: `publish` what it revoked, `follow` what others did."""

    def __init__(self, bus: EventBus, hub: Hub, tokens: TokenGenerations, edge_id: str) -> None:
        self._bus = bus
        self._hub = hub
        self._tokens = tokens
        self._edge_id = edge_id
        self._rng = random.Random()
        self.subscribed = asyncio.Event()
        """Set once the subscription is live (tests wait for it, not for time)."""

    async def publish(self, user_id: str, generation: int) -> None:
        """Tell the other edges; a bus that fails or is slow is logged, never the user's error."""
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                await self._bus.publish(revocation_event(user_id, generation, self._edge_id))
        except (HubbubError, TimeoutError) as exc:
            log.warning("log-out-everywhere of %s not published (other edges check tokens): %r", user_id, exc)

    async def follow(self) -> None:
        """Apply every other edge's revocation, resubscribing (with backoff) when cut off."""
        attempt = 0
        while True:
            try:
                stream = await self._bus.subscribe([LOG_OUT_EVERYWHERE], MAX_PENDING_EVENTS)
            except HubbubError as exc:
                log.warning("cluster events: subscription refused: %r", exc)
                await asyncio.sleep(backoff_delay(attempt, self._rng))  # no event says when it is back
                attempt += 1
                continue
            attempt = 0
            self.subscribed.set()
            try:
                async for event in stream:
                    self.apply(event)
                return  # the bus closed
            except HubbubError as exc:  # EventsLost: cut off; those missed are caught by the token check
                log.warning("cluster events: resubscribing: %r", exc)
                self.subscribed.clear()
            finally:
                with contextlib.suppress(Exception):
                    stream.close()

    def apply(self, event: ClusterEvent) -> int:
        """Close the user's sessions here; how many. Ignores this edge's own events (it has
        closed its sessions already) and events that do not parse."""
        payload = event.payload
        user_id = payload.get("user_id", "")
        if event.topic != LOG_OUT_EVERYWHERE or not user_id or payload.get("edge_id") == self._edge_id:
            return 0
        try:
            generation: int | None = int(payload.get("generation", ""))
        except ValueError:
            generation = None
            log.warning("cluster events: a revocation without a generation for %s", user_id)
        if generation is not None:
            self._tokens.revoked(user_id, generation)
        members = [
            member
            for member in self._hub.sessions_of(user_id)
            if generation is None or revoked_by(member.token_generation, generation)
        ]
        for member in members:
            member.revoke(REVOKED_DETAIL)
        return len(members)
