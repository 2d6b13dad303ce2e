"""The messaging room: accounts, conversations, messages, history and cursors, served over
gRPC (protos/messaging.proto). Other rooms use only its gRPC contract; deploy/ starts it."""

from messaging.config import MessagingConfig
from messaging.server import start_messaging

__all__ = ["MessagingConfig", "start_messaging"]
