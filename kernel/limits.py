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

# ------------------------------------------------------------------ identities
MAX_DEVICE_ID_CHARS = 64
USER_ID_PATTERN = r"[a-z0-9_.-]{1,32}"
MAX_DISPLAY_NAME_CHARS = 64
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256
MAX_ID = 2**63 - 1
"""The largest conversation id, message id or seq: ids are signed 64-bit in every store."""

# ------------------------------------------------------------------ groups
MAX_GROUP_MEMBERS = 500
"""Members of one group, the owner included."""
MAX_TITLE_CHARS = 100

# ------------------------------------------------------------------ paging
DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 100
DEFAULT_RESUME_LIMIT = 100
MAX_RESUME_LIMIT = 100

# ------------------------------------------------------------------ handshake
MAX_EARLY_FRAMES = 32
"""Frames pipelined behind a token Hello that are held while the token is checked (served
after the Welcome); beyond this (or MAX_EARLY_BYTES) they get a non-fatal UNAUTHENTICATED."""
MAX_EARLY_BYTES = 1 << 20
