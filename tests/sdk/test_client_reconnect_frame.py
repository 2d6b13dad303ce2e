"""What the client does with a draining edge's Reconnect frame (no server: frames are handed
to the client's dispatcher, as the connection loop would)."""

from __future__ import annotations

import asyncio

from protos import client_pb2 as pb
from sdk.client import ChatClient, ClientOptions

TIMEOUT_S = 10.0


class OpenTransport:
    """Stands for the current connection; records that the client closed it."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def close(self) -> None:
        self.closed.set()


def connected_client(options: ClientOptions) -> tuple[ChatClient, OpenTransport]:
    client = ChatClient(
        "ws://edge-1",
        device_id="d",
        transport="ws",
        token="t",
        credentials=None,
        auth_mode="token",
        options=options,
    )
    transport = OpenTransport()
    client._transport = transport  # type: ignore[assignment]
    client.welcome = pb.Welcome(user_id="alice", edge_id="edge-1")
    return client, transport


def reconnect(edge_url: str = "") -> pb.ServerFrame:
    return pb.ServerFrame(reconnect=pb.Reconnect(reason="draining", after_ms=0, edge_url=edge_url))


async def test_a_named_edge_is_where_the_client_goes_next_once() -> None:
    client, transport = connected_client(ClientOptions())
    client._dispatch(reconnect("ws://edge-2"))
    async with asyncio.timeout(TIMEOUT_S):
        await transport.closed.wait()
    assert await client._edge_target() == "ws://edge-2"
    assert await client._edge_target() == "ws://edge-1"  # used once; later cuts go back to target
    assert client._events.empty()  # the move itself is no event; the reconnect reports its states


async def test_without_discovery_or_a_named_edge_the_frame_is_ignored() -> None:
    client, transport = connected_client(ClientOptions())
    client._dispatch(reconnect())
    assert not client._moving and not transport.closed.is_set()
    assert client._events.empty()


async def test_with_nowhere_else_to_go_the_client_stays() -> None:
    """Discovery unreachable (nothing listens there): stay on the draining edge until it closes."""
    client, transport = connected_client(ClientOptions(discovery="127.0.0.1:1"))
    client._dispatch(reconnect())
    assert client._moving
    assert client._leaving is not None
    async with asyncio.timeout(TIMEOUT_S):
        await client._leaving  # discovery's answer (a refusal) is in
    assert not client._moving and not transport.closed.is_set()
