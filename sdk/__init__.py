"""The Python asyncio client SDK of hubbub: `ChatClient` over WebSocket (protobuf or JSON) or the
gRPC stream, with in-order exactly-once delivery across reconnects; and `hubbub chat`."""

from sdk.client import ChatClient, ClientOptions
from sdk.connection import Credentials
from sdk.events import ConnectionChanged, ConnectionState, Event
from sdk.sync_state import AckPolicy, SyncState
from sdk.transport import Transport, TransportClosed, TransportKind

__all__ = [
    "AckPolicy",
    "ChatClient",
    "ClientOptions",
    "ConnectionChanged",
    "ConnectionState",
    "Credentials",
    "Event",
    "SyncState",
    "Transport",
    "TransportClosed",
    "TransportKind",
]
