"""Typed configuration of one router process: where its dependencies live and how hard it batches.

Built with kernel.config.from_env (HUBBUB_<FIELD> overrides); validated once at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.errors import InvalidArgument
from kernel.ownership import check_partitions
from kernel.partitions import DEFAULT_PARTITIONS
from kernel.redis_settings import BACKENDS


@dataclass(frozen=True)
class RouterConfig:
    """Every option with its default and why it exists.

    router_id: name in logs and spans; one per process.
    host/port: where the Router service listens (port 0 = any free port, for tests).
    messaging_target: host:port of the Accounts + Messaging services (required).
    presence_target: host:port of the Presence service; empty disables presence fan-out.
    max_appends_in_flight: concurrent Messaging.Append batches (each for different conversations).
    max_batch: most messages (and cursor updates) in one Append (UpdateCursors) call.
    append_interval_ms: least time between the starts of two Append batches. A send after a
        quiet spell goes at once; under load sends wait up to this long and share one call
        (a gRPC call costs ~0.5 ms of CPU whatever its size). 0 = start as soon as possible.
    member_cache_size: conversations whose member lists are kept (LRU).
    push_queue_limit: offline notifications waiting for the notifier; the oldest are dropped beyond.
    push_batch: most notifications handed to the notifier in one call.
    sender_ring_size: recent (seq -> sender) remembered per conversation, to route group receipts.
    sender_ring_conversations: conversations whose rings are kept (LRU).
    audience_ttl_s: how long a PresenceAudience answer is reused.
    audience_cache_size: users whose audience is kept.
    edge_outbox_limit: router items waiting for one slow edge before new ones are dropped.
    presence_backoff_max_s: cap of the reconnect backoff for the Presence.Watch stream.
    partitions: P, the number of partitions (kernel/partitions.py); the same on every router,
        edge and store of a deployment.
    seal: with an ownership service, call Messaging.Seal for each claim before the first
        Append (the store's fencing: older epochs are refused from then on). On by default;
        off only for tests against a messaging fake without Seal. Off DISABLES FENCING: a
        stale owner's writes are stored beside the new owner's, so a router with seal=false
        is refused (InvalidArgument at start-up) as soon as a second router joins.
    seal_retry_s: how long a claim's Seal is retried, with backoff, while messaging is
        unreachable (the session connected, the claim held); then the partition is given back.
        Sends for it wait meanwhile. 0 = no retry.
    internal_secret: carried by every call this router makes and required of every call it
        serves (kernel.internal_auth); empty = open (tests).
    internal_tls_dir: mutual TLS for what it serves and calls (kernel.internal_tls); empty = none.
    push_collapse_ms: at most one offline push per (user, conversation) within this long; the
        rest are collapsed (counted, not sent). 0 = one push per message.
    max_pending_per_sender: sends one user may have waiting in the send pipeline; beyond,
        that user's sends get UNAVAILABLE (retry) while everyone else's still queue.
    directory_backend: memory (the router feeds its own directory from its links' opened and
        closed items and forgets an edge when its link ends: the single node) or redis (the
        edges write the shared registry under their leases; start_router is given it; the
        router only reads it and runs its expiry).
    directory_expiry_check_ms: with the redis directory, the longest wait between two expiry
        runs (a lapsed edge lease is cleared within about this long of lapsing).
    """

    router_id: str = "router-1"
    host: str = "127.0.0.1"
    port: int = 0
    messaging_target: str = ""
    presence_target: str = ""
    max_appends_in_flight: int = 4
    max_batch: int = 1000
    append_interval_ms: float = 4.0
    member_cache_size: int = 10_000
    push_queue_limit: int = 10_000
    push_batch: int = 500
    sender_ring_size: int = 64
    sender_ring_conversations: int = 10_000
    audience_ttl_s: float = 10.0
    audience_cache_size: int = 10_000
    edge_outbox_limit: int = 200_000
    presence_backoff_max_s: float = 5.0
    partitions: int = DEFAULT_PARTITIONS
    seal: bool = True
    seal_retry_s: float = 5.0
    internal_secret: str = ""
    internal_tls_dir: str = ""
    push_collapse_ms: int = 10_000
    max_pending_per_sender: int = 2_000
    directory_backend: str = "memory"
    directory_expiry_check_ms: int = 1_000

    @property
    def directory_shared(self) -> bool:
        """The directory is written by the edges (not fed by this router's links)."""
        return self.directory_backend != "memory"

    def __post_init__(self) -> None:
        """Fail at start-up, not on the first message."""
        if not self.messaging_target:
            raise InvalidArgument("router: messaging_target is required")
        positive = {
            "max_appends_in_flight": self.max_appends_in_flight,
            "max_batch": self.max_batch,
            "member_cache_size": self.member_cache_size,
            "push_queue_limit": self.push_queue_limit,
            "push_batch": self.push_batch,
            "sender_ring_size": self.sender_ring_size,
            "sender_ring_conversations": self.sender_ring_conversations,
            "audience_cache_size": self.audience_cache_size,
            "edge_outbox_limit": self.edge_outbox_limit,
        }
        for name, value in positive.items():
            if value < 1:
                raise InvalidArgument(f"router: {name} must be >= 1, got {value}")
        if self.audience_ttl_s < 0 or self.presence_backoff_max_s <= 0:
            raise InvalidArgument("router: audience_ttl_s >= 0 and presence_backoff_max_s > 0")
        if not 0 <= self.append_interval_ms <= 1000:
            raise InvalidArgument("router: append_interval_ms must be within 0..1000")
        if self.push_collapse_ms < 0 or self.max_pending_per_sender < 1:
            raise InvalidArgument("router: push_collapse_ms >= 0 and max_pending_per_sender >= 1")
        if not 0 <= self.seal_retry_s <= 600:
            raise InvalidArgument("router: seal_retry_s must be within 0..600")
        check_partitions(self.partitions)
        if self.directory_backend not in BACKENDS:
            raise InvalidArgument(f"router: directory_backend must be one of {', '.join(BACKENDS)}")
        if not 10 <= self.directory_expiry_check_ms <= 60_000:
            raise InvalidArgument("router: directory_expiry_check_ms must be within 10..60000")
        if not 0 <= self.port <= 65535:
            raise InvalidArgument(f"router: port must be in 0..65535, not {self.port}")
