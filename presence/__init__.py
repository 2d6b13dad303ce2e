"""Presence: who is online, from leases edges hold for their sessions, with debounced
changes streamed to watchers. Other rooms use the gRPC contract; deploy uses this face."""

from presence.config import PresenceConfig
from presence.interface import ChangeStream, PresenceBackend
from presence.memory import MemoryPresence
from presence.model import EdgeReport, SessionChange, UserPresence
from presence.redis_backend import RedisPresence
from presence.server import start_presence
from presence.servicer import WATCH_READY_KEY
from presence.subscription import SlowWatcher

__all__ = [
    "WATCH_READY_KEY",
    "ChangeStream",
    "EdgeReport",
    "MemoryPresence",
    "PresenceBackend",
    "PresenceConfig",
    "RedisPresence",
    "SessionChange",
    "SlowWatcher",
    "UserPresence",
    "start_presence",
]
