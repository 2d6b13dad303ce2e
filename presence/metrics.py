"""The presence room's Prometheus metrics, named in one place: the changes it publishes."""

from __future__ import annotations

from prometheus_client import Counter

from kernel.metrics import ByLabel

CHANGES = Counter("hubbub_presence_changes", "Presence changes published, by new status", ["status"])
changes = ByLabel(CHANGES)
