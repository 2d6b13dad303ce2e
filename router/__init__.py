"""The router room: owns conversations, persists sends through messaging in order, and fans
messages, receipts, typing, group events and presence out to the edges over Link streams."""

from router.config import RouterConfig
from router.directory import MemoryDirectory, SessionDirectory
from router.push import LogPushNotifier, MemoryPushNotifier, PushNotification, PushNotifier
from router.redis_directory import RedisDirectory
from router.server import RouterService, start_router

__all__ = [
    "LogPushNotifier",
    "MemoryDirectory",
    "MemoryPushNotifier",
    "PushNotification",
    "PushNotifier",
    "RedisDirectory",
    "RouterConfig",
    "RouterService",
    "SessionDirectory",
    "start_router",
]
