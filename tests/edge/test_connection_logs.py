"""Log lines about a connection say who it is: session id, user, device and peer address
(websockets' own anonymous "connection open/closed" lines are not shown at INFO)."""

from __future__ import annotations

import asyncio
import logging
import re

import grpc
import pytest

from edge import EdgeService, connection, start_edge
from kernel.clock import ManualClock
from kernel.grpc_server import insecure_channel
from kernel.log_limit import LogAtMostEvery
from protos import client_pb2 as pb
from protos.gateway_pb2_grpc import GatewayStub
from tests.edge.client import WsClient, token_for
from tests.edge.conftest import Backends

WHO = r"session=(\d+) user=(\S+) device=(\S+) peer=([^\s)]+)"


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("edge")]


async def test_open_and_close_lines_name_the_user_device_session_and_peer(
    backends: Backends, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    edge = await start_edge(backends.edge_config(), clock=clock)
    try:
        client, welcome = await WsClient.authed(edge.ws_url, "alice")
        await client.send(pb.ClientFrame(goodbye=pb.Goodbye()))
        assert await client.wait_closed() == 1000
        async with insecure_channel(edge.grpc_target) as channel:
            call = GatewayStub(channel).Connect()
            await call.write(pb.ClientFrame(ref=1, hello=pb.Hello(token=token_for("bot"), device_id="svc")))
            async with asyncio.timeout(30):
                bot = await call.read()
                assert isinstance(bot, pb.ServerFrame) and bot.HasField("welcome")
                await call.write(pb.ClientFrame(goodbye=pb.Goodbye()))
                assert await call.code() == grpc.StatusCode.OK
    finally:
        await edge.stop()  # every connection handler has finished: its last line is written
    logged = lines(caplog)
    ws_open = [m for m in logged if m.startswith("session opened") and "user=alice" in m]
    (line,) = ws_open
    match = re.search(WHO, line)
    assert match is not None
    assert match.groups()[:3] == (str(welcome.session_id), "alice", "alice-dev")
    assert re.fullmatch(r"127\.0\.0\.1:\d+", match.group(4))
    (closed,) = [m for m in logged if m.startswith("session closed") and "user=alice" in m]
    assert f"session={welcome.session_id} " in closed and "device=alice-dev" in closed
    (grpc_open,) = [m for m in logged if m.startswith("session opened") and "user=bot" in m]
    assert "device=svc" in grpc_open and re.search(r"peer=ipv[46]:", grpc_open)
    assert not [m for m in logged if m in ("connection open", "connection closed")]


async def test_a_flood_of_refused_log_ins_writes_one_line_not_one_per_guess(
    edge: EdgeService, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "_refused_auth", LogAtMostEvery(connection.log))  # a fresh interval
    caplog.set_level(logging.INFO)
    for _ in range(20):
        client = await WsClient.open(edge.ws_url)
        await client.send(
            pb.ClientFrame(
                ref=1, hello=pb.Hello(log_in=pb.Credentials(user_id="bob", password="wrong-guess"))
            )
        )
        refused = await client.recv()
        assert refused.error.code == "UNAUTHENTICATED" and refused.error.fatal
        assert await client.wait_closed() == 4001
    written = [m for m in lines(caplog) if m.startswith("log_in refused")]
    assert len(written) == 1 and "UNAUTHENTICATED" in written[0]
