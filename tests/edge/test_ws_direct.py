"""An idle connection keeps no per-connection WebSocket baggage it does not use (W3 memory):
no message Assembler, no handshake headers, no logger adapter, our own state in slots."""

from __future__ import annotations

import logging

from websockets.asyncio.messages import Assembler

from edge import EdgeService
from edge.ws_direct import DirectServerConnection
from protos import client_pb2 as pb
from tests.edge.client import WsClient


async def test_an_idle_authenticated_connection_sheds_what_it_does_not_use(edge: EdgeService) -> None:
    client, _ = await WsClient.authed(edge.ws_url, "alice")
    (conn,) = edge.ws_server.connections
    assert isinstance(conn, DirectServerConnection)
    assert not isinstance(conn.recv_messages, Assembler)
    assert conn.request is not None and len(conn.request.headers) == 0
    assert conn.response is not None and len(conn.response.headers) == 0
    assert isinstance(conn.logger, logging.Logger)
    assert not {"_early", "_parts", "_on_message", "_text"} & set(vars(conn))
    assert isinstance(conn.drain_waiters, list)
    # ... and it still carries frames both ways.
    pong = await client.request(pb.ClientFrame(ref=5, ping=pb.Ping(client_time_ms=1)))
    assert (pong.ref, pong.pong.client_time_ms) == (5, 1)
    await client.send(pb.ClientFrame(goodbye=pb.Goodbye()))
    assert await client.wait_closed() == 1000
