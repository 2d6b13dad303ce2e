"""An idle connection keeps no per-connection WebSocket baggage it does not use (W3 memory):
no message Assembler, no handshake leftovers, no logger adapter, no shielded wait, our own
state in slots; and it still ends as it should however it ends."""

from __future__ import annotations

import asyncio
import logging

import pytest
from websockets.asyncio.messages import Assembler

from edge import EdgeService
from edge.ws_direct import DirectServerConnection
from kernel.clock import ManualClock
from protos import client_pb2 as pb
from tests.edge.client import WsClient
from tests.edge.conftest import Backends


async def test_an_idle_authenticated_connection_sheds_what_it_does_not_use(edge: EdgeService) -> None:
    client, _ = await WsClient.authed(edge.ws_url, "alice")
    (conn,) = edge.ws_server.connections
    assert isinstance(conn, DirectServerConnection)
    assert not isinstance(conn.recv_messages, Assembler)
    assert conn.request is not None and len(conn.request.headers) == 0 and conn.request.path == ""
    assert conn.response is not None and len(conn.response.headers) == 0
    assert not hasattr(conn, "request_rcvd")
    assert "select_subprotocol" not in vars(conn.protocol)  # the class's method is what is left
    assert isinstance(conn.logger, logging.Logger)
    assert not {"_early", "_parts", "_on_message", "_text"} & set(vars(conn))
    assert isinstance(conn.drain_waiters, list)
    # ... and it still carries frames both ways.
    pong = await client.request(pb.ClientFrame(ref=5, ping=pb.Ping(client_time_ms=1)))
    assert (pong.ref, pong.pong.client_time_ms) == (5, 1)
    await client.send(pb.ClientFrame(goodbye=pb.Goodbye()))
    assert await client.wait_closed() == 1000


async def test_later_connections_still_get_the_subprotocol_they_ask_for(edge: EdgeService) -> None:
    """Each connection's chooser is dropped after its own handshake, never before the next's."""
    binary, _ = await WsClient.authed(edge.ws_url, "alice")
    text, _ = await WsClient.authed(edge.ws_url, "bob", binary=False)
    again, _ = await WsClient.authed(edge.ws_url, "carol")
    assert (binary.ws.subprotocol, text.ws.subprotocol, again.ws.subprotocol) == (
        "hubbub.v1.proto",
        None,
        "hubbub.v1.proto",
    )
    first, third = [c for c in edge.ws_server.connections if c.subprotocol is not None]
    assert first.subprotocol is third.subprotocol  # one string for all, not a copy each
    for client in (binary, text, again):
        await client.assert_serving()
        await client.close()


async def test_a_client_that_vanishes_is_forgotten_and_the_router_hears_of_it(
    edge: EdgeService, backends: Backends
) -> None:
    """The handler waits on the TCP connection's end itself (no shield): an abrupt end wakes it."""
    client, welcome = await WsClient.authed(edge.ws_url, "alice")
    await backends.router.next_item("opened")
    client.ws.transport.abort()  # no close frame: the TCP connection just ends
    closed = await backends.router.next_item("closed")
    assert closed.session.session_id == welcome.session_id and not closed.closed.graceful
    assert (await backends.presence.next_change(online=False)).session_id == welcome.session_id
    assert edge.connections == 0


async def test_a_cancelled_handler_still_closes_its_connection(
    edge: EdgeService, backends: Backends, caplog: pytest.LogCaptureFixture
) -> None:
    """Cancelling the handler cancels the future it awaited; a fresh one takes its place, so
    the close still waits for the client's answer and websockets finds a future to settle."""
    client, welcome = await WsClient.authed(edge.ws_url, "alice")
    await backends.router.next_item("opened")
    (conn,) = edge.ws_server.connections
    assert isinstance(conn, DirectServerConnection)
    (task,) = edge.ws_server.handler_tasks
    task.cancel()
    assert await client.wait_closed() == 1001  # the server closed it: going away
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await backends.router.next_item("closed")).session.session_id == welcome.session_id
    assert conn.connection_lost_waiter.done() and not conn.connection_lost_waiter.cancelled()
    assert edge.connections == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_silent_connection_is_closed_by_the_shared_ticker_and_its_handler_ends(
    edge: EdgeService, backends: Backends, clock: ManualClock
) -> None:
    """No timer or task of its own times a connection out: the edge's one ticker closes it
    (4008), and the handler, awaiting the TCP end unshielded, finishes and forgets it."""
    client, welcome = await WsClient.authed(edge.ws_url, "alice")
    await backends.router.next_item("opened")
    (task,) = edge.ws_server.handler_tasks
    clock.advance(3_000)
    error = await client.recv()
    assert (error.error.code, error.error.fatal) == ("HEARTBEAT_TIMEOUT", True)
    assert await client.wait_closed() == 4008
    assert (await backends.router.next_item("closed")).session.session_id == welcome.session_id
    async with asyncio.timeout(30):
        await task
    assert edge.connections == 0
