"""Connection-level pieces of the client that hold no state of their own: building frames,
the Hello/Welcome handshake, and the reconnect backoff rule (pure, random source injected)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Literal

from kernel.errors import BadFrame, error_from_code
from protos import client_pb2
from sdk.transport import Transport, TransportClosed


@dataclass(frozen=True)
class Credentials:
    """A user's id and password; `display_name` is used when signing up."""

    user_id: str
    password: str
    display_name: str = ""

    def to_proto(self) -> client_pb2.Credentials:
        return client_pb2.Credentials(
            user_id=self.user_id, password=self.password, display_name=self.display_name
        )


AuthMode = Literal["token", "log_in", "sign_up"]


def hello_frame(
    ref: int,
    device_id: str,
    mode: AuthMode,
    *,
    token: str = "",
    credentials: Credentials | None = None,
    client_name: str = "hubbub-sdk",
) -> client_pb2.ClientFrame:
    hello = client_pb2.Hello(device_id=device_id, client_name=client_name)
    if mode == "token":
        hello.token = token
    else:
        assert credentials is not None
        getattr(hello, mode).CopyFrom(credentials.to_proto())
    return client_pb2.ClientFrame(ref=ref, hello=hello)


async def handshake(
    transport: Transport, hello: client_pb2.ClientFrame, welcome_within: float
) -> client_pb2.Welcome:
    """Send the Hello and wait for the Welcome; a refusal raises its typed error."""
    await transport.send(hello)
    async with asyncio.timeout(welcome_within):
        frame = await transport.recv()
    kind = frame.WhichOneof("kind")
    if kind == "welcome":
        return frame.welcome
    if kind == "error":
        raise error_from_code(frame.error.code, frame.error.message)
    raise BadFrame(f"expected a welcome, got {kind!r}")


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: spreads a crowd of reconnecting clients over time."""
    return rng.uniform(0, min(cap, base * (2 ** min(attempt, 30))))


__all__ = ["AuthMode", "Credentials", "TransportClosed", "backoff_delay", "handshake", "hello_frame"]
