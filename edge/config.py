"""The edge's configuration: one frozen value object with documented defaults.

Build it with `kernel.config.from_env(EdgeConfig)` to allow `HUBBUB_<FIELD>` overrides.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.errors import InvalidArgument
from kernel.grpc_server import MAX_BATCH_BYTES
from kernel.limits import MAX_BODY_CHARS, MAX_PAYLOAD_BYTES
from kernel.ownership import check_partitions
from kernel.partitions import DEFAULT_PARTITIONS
from kernel.redis_settings import BACKENDS
from kernel.webpush_hosts import DEFAULT_WEBPUSH_HOSTS

MIN_FRAME_BYTES = 4 * MAX_BODY_CHARS + MAX_PAYLOAD_BYTES + 1024
"""The largest legal send in binary protobuf (4 UTF-8 bytes per character) with room for
its other fields: max_frame_bytes may not refuse it."""
DEFAULT_MAX_FRAME_BYTES = 12 * MAX_BODY_CHARS + 4 * -(-MAX_PAYLOAD_BYTES // 3) + 64 * 1024
"""Just above the largest legal send in any encoding: JSON with every character \\u-escaped
as a surrogate pair (12 bytes) and the payload in base64, plus 64 KiB (1,798,872 bytes)."""
DEFAULT_SEND_QUEUE_BYTES = 16 * 1024 * 1024
"""EdgeConfig.send_queue_bytes: several maximum reply pages (~4 MiB each) fit."""
MAX_FRAME_BYTES_CEILING = MAX_BATCH_BYTES // 2
"""max_frame_bytes stays far below the internal gRPC limit, so any frame accepted can be routed."""


@dataclass(frozen=True)
class EdgeConfig:
    edge_id: str = "edge-1"
    """Names this edge to routers (EdgeBatch.edge_id) and presence (EdgeReport.edge_id)."""
    host: str = "127.0.0.1"
    """Interface both listeners bind to."""
    ws_port: int = 0
    """WebSocket listener port (0 = any free port; see EdgeService.ws_url)."""
    grpc_port: int = 0
    """gRPC Gateway listener port (0 = any free port; see EdgeService.grpc_target)."""
    router_targets: tuple[str, ...] = ()
    """host:port of every router; one long-lived Link stream each. Empty = no routing (tests)."""
    messaging_target: str = ""
    """host:port of the Accounts/Messaging services; empty = queries answer UNAVAILABLE."""
    presence_target: str = ""
    """host:port of the Presence service; empty = no presence reporting."""
    token_secret: str = "dev-secret-change-me"
    """HS256 secret shared with messaging, which issues the access tokens."""
    media_url: str = ""
    """Public base URL of the blob server (e.g. http://127.0.0.1:8768) that the edge signs
    upload and download URLs for, with a key derived from token_secret; empty = attachments
    are off (request_upload answers UNAVAILABLE). See docs/media.md."""
    push_webpush_hosts: tuple[str, ...] = DEFAULT_WEBPUSH_HOSTS
    """The Web Push services a registered endpoint may name: the push room's option of the same
    name (router/push/config.py, HUBBUB_PUSH_WEBPUSH_HOSTS), which the node passes on."""
    heartbeat_interval_ms: int = 15_000
    """Advertised in Welcome: clients send a Ping at least this often."""
    heartbeat_timeout_ms: int = 45_000
    """Silence longer than this closes the connection with 4008 (also bounds the wait for Hello)."""
    send_queue_limit: int = 1024
    """Frames queued per connection before it is closed with 4009 SLOW_CONSUMER (see also
    send_queue_bytes)."""
    ws_compression: bool = False
    """Negotiate permessage-deflate (costs CPU per frame; off by default)."""
    presence_lease_ms: int = 30_000
    """Lease asked of presence; renewed every lease/3 with an empty report."""
    directory_backend: str = "memory"
    """Where routers find this edge's sessions: memory (each router learns them from its link,
    the single node) or redis (this edge writes them to the shared connection registry under
    its own lease, edge/directory_writer.py; start_edge is then given the registry)."""
    events_backend: str = "memory"
    """Where cluster events go (kernel/cluster_events.py): memory (the edges of this process, the
    single node) or redis (pub/sub shared by a cluster's edges: a log-out-everywhere taken on one
    edge closes the user's sessions on all; the Redis options are HUBBUB_REDIS_*)."""
    directory_lease_ms: int = 30_000
    """With the redis directory: the lease on this edge's sessions, renewed every lease/3 (at
    least every second: edge/directory_writer.py); a dead edge's sessions are cleared this
    long after its last renewal."""
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    """Largest client message accepted, on WebSocket (bigger: close 1009) and the gRPC stream
    (bigger: RESOURCE_EXHAUSTED). Default: just above the largest legal send in any encoding."""
    router_pending_limit: int = 10_000
    """Frames held for a router while its link is down; beyond that sends fail UNAVAILABLE."""
    router_flush_interval_ms: float = 2.0
    """Least time between two writes on a gRPC router link: under load, frames arriving
    meanwhile share one EdgeBatch (a gRPC message costs ~150 us of CPU whatever its size). Idle
    links write at once; 0 = write whenever the previous write finished. A link to a router in
    this process has no window (kernel/link_streams.py)."""
    typing_burst: int = 5
    """Typing frames a connection may send at once before the rate limit applies."""
    typing_per_second: float = 1.0
    """Sustained typing frames per second per connection."""
    token_check_ttl_ms: int = 10_000
    """How long a user's token generation (does the user exist, were its tokens revoked) is
    reused by token hellos. A revocation through this edge applies at once; one through
    another edge within this long."""
    token_check_cache_size: int = 100_000
    """Users whose token generation is cached (LRU)."""
    internal_secret: str = ""
    """Carried on every call to routers, messaging and presence (kernel.internal_auth); the
    client-facing listeners never ask for it. Empty = none (tests of a room alone)."""
    internal_tls_dir: str = ""
    """Mutual TLS on those calls (kernel.internal_tls: ca.crt, node.crt, node.key); empty =
    plaintext. The client-facing listeners are unaffected."""
    send_queue_bytes: int = DEFAULT_SEND_QUEUE_BYTES
    """Bytes waiting for one client (its send queue plus what its socket has not sent) beyond
    which one more frame closes it with 4009 SLOW_CONSUMER; one reply page (~4 MiB) fits
    several times over. A single frame larger than this still goes to an otherwise idle client."""
    rate_send_burst: int = 50
    """Sends a connection may make at once (token bucket); beyond: RATE_LIMITED, frame dropped."""
    rate_send_per_second: float = 20.0
    """Sustained sends per second per connection."""
    rate_receipt_burst: int = 100
    """`delivered` / `read` frames a connection may send at once."""
    rate_receipt_per_second: float = 50.0
    """Sustained receipt frames per second per connection (clients batch their cursors)."""
    rate_query_burst: int = 50
    """history / listConversations / readBy / resume a connection may ask at once."""
    rate_query_per_second: float = 10.0
    """Sustained queries per second per connection."""
    rate_group_burst: int = 20
    """openDirect / createGroup / updateGroup / contact frames a connection may send at once."""
    rate_group_per_second: float = 2.0
    """Sustained conversation and contact changes per second per connection."""
    rate_user_factor: float = 2.0
    """A user's connections on this edge share one bucket per class, this many times a
    connection's (burst and rate). A user on several edges gets each edge's allowance."""
    rate_error_interval_ms: int = 1000
    """After a RATE_LIMITED, refused frames of that class are dropped silently until its
    retry-after has passed (capped at this): a flood is not answered with a flood."""
    auth_in_flight: int = 8
    """Log-ins / sign-ups this edge has with messaging at once (slots apart from the queries')."""
    auth_waiting: int = 256
    """Log-ins / sign-ups waiting for a slot; beyond, a hello gets RATE_LIMITED at once."""
    partitions: int = DEFAULT_PARTITIONS
    """P (kernel/partitions.py): the same on every edge, router and store of a deployment."""
    watch_partitions: bool = False
    """Route by the partition map the routers serve (Router.WatchPartitions, re-routed as it
    changes); off = a static map balanced over router_targets (epoch 0, unfenced)."""
    discovery_target: str = ""
    """host:port of discovery, for an edge in its own process: it reports its load there
    (Discovery.ReportLoad) and watches its own node for the draining mark (WatchNodes).
    Empty = neither, unless the composition root wires them in-process (`hubbub up`)."""
    drain_period_ms: int = 30_000
    """When the edge is drained (`hubbub admin drain`), its clients are sent the Reconnect frame
    spread evenly over this long, so they do not all reconnect elsewhere at once."""
    drain_close_after_ms: int = 10_000
    """A client still connected this long after its Reconnect frame is closed with 4010."""
    load_report_interval_ms: int = 1_000
    """Least time between two load reports (connections, msgs/s) to the registry; the latest
    load is reported within one interval of a change."""

    def __post_init__(self) -> None:
        for name in ("drain_period_ms", "drain_close_after_ms"):
            if getattr(self, name) < 0:
                raise InvalidArgument(f"{name} must be 0 or more")
        if self.load_report_interval_ms < 10:
            raise InvalidArgument("load_report_interval_ms must be at least 10")
        if not 0 < len(self.edge_id) <= 256:  # it heads every EdgeBatch (see BATCH_ENVELOPE_BYTES)
            raise InvalidArgument("edge_id must be 1..256 characters")
        if self.heartbeat_interval_ms <= 0 or self.heartbeat_timeout_ms <= self.heartbeat_interval_ms:
            raise InvalidArgument("need 0 < heartbeat_interval_ms < heartbeat_timeout_ms")
        if self.send_queue_limit < 1:
            raise InvalidArgument("send_queue_limit must be at least 1")
        if self.presence_lease_ms < 300:
            raise InvalidArgument("presence_lease_ms must be at least 300")
        if self.directory_backend not in BACKENDS:
            raise InvalidArgument(f"directory_backend must be one of {', '.join(BACKENDS)}")
        if self.events_backend not in BACKENDS:
            raise InvalidArgument(f"events_backend must be one of {', '.join(BACKENDS)}")
        if self.directory_lease_ms < 300:
            raise InvalidArgument("directory_lease_ms must be at least 300")
        if not MIN_FRAME_BYTES <= self.max_frame_bytes <= MAX_FRAME_BYTES_CEILING:
            bounds = f"{MIN_FRAME_BYTES}..{MAX_FRAME_BYTES_CEILING}"
            raise InvalidArgument(f"max_frame_bytes must be within {bounds}")
        if self.send_queue_bytes < 64 * 1024:
            raise InvalidArgument("send_queue_bytes must be at least 65536")
        if not 0 <= self.router_flush_interval_ms <= 100:
            raise InvalidArgument("router_flush_interval_ms must be within 0..100")
        if self.token_check_ttl_ms < 0 or self.token_check_cache_size < 1:
            raise InvalidArgument("token_check_ttl_ms must be >= 0 and token_check_cache_size >= 1")
        if self.router_pending_limit < 0 or self.typing_burst < 1 or self.typing_per_second <= 0:
            raise InvalidArgument("router_pending_limit, typing_burst and typing_per_second must be positive")
        rates = (
            (self.rate_send_burst, self.rate_send_per_second),
            (self.rate_receipt_burst, self.rate_receipt_per_second),
            (self.rate_query_burst, self.rate_query_per_second),
            (self.rate_group_burst, self.rate_group_per_second),
        )
        if any(burst < 1 or per_second <= 0 for burst, per_second in rates) or self.rate_user_factor < 1:
            raise InvalidArgument("rate_*_burst >= 1, rate_*_per_second > 0 and rate_user_factor >= 1")
        check_partitions(self.partitions)
        if self.rate_error_interval_ms < 0 or self.auth_in_flight < 1 or self.auth_waiting < 0:
            raise InvalidArgument("rate_error_interval_ms >= 0, auth_in_flight >= 1, auth_waiting >= 0")


LIMIT_FIELDS = (
    "typing_burst",
    "typing_per_second",
    "rate_send_burst",
    "rate_send_per_second",
    "rate_receipt_burst",
    "rate_receipt_per_second",
    "rate_query_burst",
    "rate_query_per_second",
    "rate_group_burst",
    "rate_group_per_second",
    "rate_user_factor",
    "rate_error_interval_ms",
    "auth_in_flight",
    "auth_waiting",
)
"""The inbound-limit options, overridable by HUBBUB_<FIELD> on a node (deploy/services.py)."""
