"""The messaging room's Prometheus metrics, named in one place: store commit latency and
the batch sizes of appends (one durable commit per batch)."""

from __future__ import annotations

from kernel.metrics import LATENCY_BUCKETS_S, SIZE_BUCKETS, IntHistogram

STORE_COMMIT_SECONDS = IntHistogram(
    "hubbub_messaging_store_commit_seconds",
    "One Append batch: checks, seqs and the durable commit",
    buckets=LATENCY_BUCKETS_S,
)
APPEND_BATCH_ITEMS = IntHistogram(
    "hubbub_messaging_append_batch_items", "Messages per Append batch", buckets=SIZE_BUCKETS
)
