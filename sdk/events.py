"""What a ChatClient pushes to the application: the protocol's own event messages, plus
connection-state changes, so apps `match` on protobuf types they already know."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

from protos import client_pb2


class ConnectionState(Enum):
    CONNECTED = "connected"  # Welcome received; the Resume is in flight
    RESUMED = "resumed"  # the Resume is answered: everything missed has been delivered
    DISCONNECTED = "disconnected"  # the connection dropped; reconnecting with backoff
    CLOSED = "closed"  # for good: close() was called, or reconnecting cannot succeed


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    state: ConnectionState
    detail: str = ""


Event: TypeAlias = (
    client_pb2.Message  # in order per conversation, each once
    | client_pb2.Receipt
    | client_pb2.TypingEvent
    | client_pb2.PresenceEvent
    | client_pb2.ConversationEvent
    | client_pb2.Error  # unsolicited errors (and errors answering fire-and-forget frames)
    | ConnectionChanged
)
