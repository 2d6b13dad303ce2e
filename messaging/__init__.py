"""The messaging room: accounts, conversations, messages, history and cursors, served over
gRPC (protos/messaging.proto). Other rooms use only its gRPC contract (or, in one process, the same
services through kernel/messaging_api.py's Protocols); deploy/ starts it."""

from messaging.config import MessagingConfig
from messaging.server import MessagingService, start_messaging

__all__ = ["MessagingConfig", "MessagingService", "start_messaging"]
