"""What a person sees when the gRPC transport cannot reach the edge: one line with the status
code's name and its details, not AioRpcError's multi-line repr with its debug string."""

from __future__ import annotations

import socket

import pytest

from sdk.transport import GrpcTransport, TransportClosed


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there any more


async def test_a_connect_failure_is_one_line_naming_the_code() -> None:
    transport = await GrpcTransport.open(f"127.0.0.1:{_closed_port()}")
    try:
        with pytest.raises(TransportClosed) as closed:
            await transport.recv()
    finally:
        await transport.close()
    message = str(closed.value)
    assert message.startswith("stream closed: UNAVAILABLE: "), message
    assert "\n" not in message and "debug_error_string" not in message and "AioRpcError" not in message
