"""Every protocol limit a client can run into, in one place that edge, router and messaging read.

A limit said twice drifts; change one here and every hop (and docs/protocol.md) follows.
"""

from __future__ import annotations

# ------------------------------------------------------------------ message content
MAX_BODY_CHARS = 100_000
"""The longest message body, in characters (advertised in Welcome.max_body_chars)."""
MAX_PAYLOAD_BYTES = 4 * MAX_BODY_CHARS
"""The largest opaque payload (end-to-end encrypted clients), in bytes."""
MAX_CONTENT_TYPE_CHARS = 100
MAX_CLIENT_MSG_ID_CHARS = 64
"""The idempotency key: 1..64 characters (a UUID is 36)."""
RESERVED_CLIENT_MSG_ID_PREFIX = "hubbub:"
"""Idempotency keys starting with this are the server's (a deletion entry's): refused from clients."""

# ------------------------------------------------------------------ identities
MAX_DEVICE_ID_CHARS = 64
USER_ID_PATTERN = r"[a-z0-9_.-]{1,32}"
MAX_DISPLAY_NAME_CHARS = 64
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256
MAX_ID = 2**63 - 1
"""The largest conversation id, message id or seq: ids are signed 64-bit in every store.
Beyond 2**53 they lose precision as JavaScript numbers: JSON carries them as strings."""

# ------------------------------------------------------------------ receipts
MAX_RECEIPT_CURSORS = 1_000
"""Cursors in one delivered/read frame (the SDK splits a larger batch into several frames)."""

MAX_CONTACTS = 5_000
"""Contacts per user: bounds the contact list, and with it every presence audience and watch
list built from it, far below any message limit (5,000 ids are ~165 KB)."""

# ------------------------------------------------------------------ groups
MAX_GROUP_MEMBERS = 500
"""Members of one group, the owner included."""
MAX_TITLE_CHARS = 100

# ------------------------------------------------------------------ paging
DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 100
DEFAULT_RESUME_LIMIT = 100
MAX_RESUME_LIMIT = 100
RESUME_MAX_CONVERSATIONS = 10_000
"""Conversations one resume looks at: the user's most recently active; older ones are reached
with listConversations and history."""

# ------------------------------------------------------------------ reply sizes
MAX_REPLY_PAGE_BYTES = 4_000_000
"""The largest query reply page (a history page, a conversation-list page), measured as the
client receives it (protobuf or, when larger, JSON: messaging.convert.client_size): a page
stops before it, with at least one item, and sets has_more. About 4 MiB, so that a page never
nears the internal gRPC limit (16 MiB) and several fit a client's send queue (send_queue_bytes,
16 MiB) in either encoding."""
MAX_RESUME_REPLY_BYTES = MAX_REPLY_PAGE_BYTES
"""All the pages of one resume together (it spans many conversations), at least one message:
the conversations past it are left out and ResumeDone.has_more says to resume again."""
MAX_RESUME_PAGES = 200
"""Conversations in one resume answer (one frame each, so that it fits a send queue), the
rest left out with ResumeDone.has_more."""
# ------------------------------------------------------------------ trace context
MAX_TRACEPARENT_CHARS = 55
"""A W3C `traceparent` (version 00: 2+32+16+2 hex digits and three dashes)."""
MAX_TRACESTATE_CHARS = 512
"""A W3C `tracestate`: the length every tracer must propagate. Of a frame's `trace` map only
these two keys travel on, each within its length; every other entry is dropped at the edge."""

# ------------------------------------------------------------------ handshake
MAX_EARLY_FRAMES = 32
"""Frames pipelined behind a token Hello that are held while the token is checked (served
after the Welcome); beyond this (or MAX_EARLY_BYTES) they get a non-fatal UNAUTHENTICATED."""
MAX_EARLY_BYTES = 1 << 20

# ------------------------------------------------------------------ internal batches
MAX_BATCH_USERS = 1_000
"""Users in one batched per-user internal call (Accounts.TokenGenerations, which an edge
fills from a reconnect storm's token hellos; Accounts.PresenceWatchLists); callers cut
larger batches into calls of this many."""
MAX_PRESENCE_QUERY_USERS = 10_000
"""Users in one Presence.Query; a caller with more (the merged watch lists of many opening
sessions) cuts them into several queries."""
MAX_INTERNAL_REPLY_BYTES = MAX_REPLY_PAGE_BYTES
"""The byte budget of a batched internal reply whose items are unbounded lists (a batch of
presence watch lists): the reply stops before it, with at least one item, and the caller asks
again for the rest; far below the internal gRPC limit (16 MiB)."""
MAX_RESUME_BATCH = 32
"""Resumes in one Messaging.ResumeMany call: an edge sends the resumes of a reconnect storm
that wait for messaging together, this many per call at most."""
MAX_RESUME_BATCH_REQUEST_BYTES = MAX_REPLY_PAGE_BYTES
"""The requests of one ResumeMany together (a resume may carry many cursors); a lone request
always goes, whatever its size (the edge's frame limit keeps it below the gRPC limit)."""
MAX_RESUME_BATCH_REPLY_BYTES = 2 * MAX_RESUME_REPLY_BYTES
"""The replies of one ResumeMany together: past it, the remaining resumes are left out and asked
again in another call (the first is always answered, so every call makes progress). With the
one reply that did not fit, a batch holds at most 3 x MAX_RESUME_REPLY_BYTES (12 MB) at a time,
below the internal gRPC limit (16 MiB)."""

# ------------------------------------------------------------------ discovery (AssignEdge, GET /v1/edge)
MAX_ZONE_CHARS = 64
"""An edge assignment's `zone`."""
MAX_NODE_ID_CHARS = 128
"""An edge assignment's `previous_edge_id` (a node id)."""
MAX_HTTP_REQUEST_BYTES = 8_192
"""Discovery's HTTP endpoint: a request line and headers beyond this are refused (431)."""
# ------------------------------------------------------------------ media (docs/media.md)
MEDIA_TYPES: frozenset[str] = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "video/mp4",
        "video/webm",
        "audio/mpeg",
        "audio/ogg",
        "audio/mp4",
        "application/pdf",
        "text/plain",
    }
)
"""The content types an upload may declare; the blob server stores and serves only these, so a
browser never gets an HTML or script object from hubbub's origin."""
MAX_MEDIA_BYTES = 100 * 1024 * 1024
"""The largest object one upload URL allows (100 MiB): declared, and counted while the body
streams in."""
MAX_MEDIA_THUMBNAIL_BYTES = 8 * 1024
"""A MediaRef's inline preview image: it rides in the message, so it stays small."""
MAX_MEDIA_BLURHASH_CHARS = 100
MAX_MEDIA_FILE_NAME_CHARS = 255
MAX_MEDIA_REF_BYTES = MAX_MEDIA_THUMBNAIL_BYTES + 2048
"""A whole serialized MediaRef, as messaging stores it: the thumbnail and every other field."""
MAX_MEDIA_DOWNLOAD_KEYS = 50
"""Keys in one request_downloads frame."""
MAX_MEDIA_KEY_CHARS = 128
"""An object key as the server makes it (conversation/user/random)."""
MEDIA_UPLOAD_TTL_MS = 5 * 60_000
"""How long an upload URL is good for."""
MEDIA_RECEIPT_TTL_MS = 60 * 60_000
"""How long after its upload an object may still be attached to a send (its receipt carries
the time). The sweep of uploads never sent waits longer (media/config.py), so an object a send
may still point to is never swept."""
MEDIA_CLOCK_SKEW_MS = 10 * 60_000
"""How far the clocks that stamp an upload (the store's, S3's LastModified) and a message
(messaging's sent_at_ms) may differ: searches for a message pointing to an upload (the sweep,
a deleted attachment's removal) look this much wider."""
MAX_BLOB_CONNECTIONS = 256
"""Connections the embedded blob server serves at once; more are answered 503 UNAVAILABLE
(retryable), so slow uploads cannot pile up without bound."""
MEDIA_DOWNLOAD_TTL_MS = 10 * 60_000
"""How long a download URL is good for; ask again for a fresh one."""
# Push targets (docs/push.md). An FCM registration token is ~160 characters and an APNs device
# token 64 hex digits; the bound leaves room for the services to grow them.
MAX_PUSH_TOKEN_CHARS = 4_096
MAX_PUSH_TARGETS_PER_USER = 20
"""A user's registered devices; registering one more is refused (delete one first)."""
MAX_APNS_TOPIC_CHARS = 255
MAX_WEBPUSH_ENDPOINT_CHARS = 2_048
WEBPUSH_P256DH_BYTES = 65
"""An uncompressed P-256 point (RFC 8291), sent base64url without padding (87 characters)."""
WEBPUSH_AUTH_BYTES = 16
