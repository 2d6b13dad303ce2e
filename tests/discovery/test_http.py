"""Discovery's HTTP endpoint for browsers, on a real server: what a page's fetch() would see."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from discovery import DiscoveryConfig, NodeInfo, NodeKind, StaticRegistry, start_discovery
from discovery.server import DiscoveryService
from kernel.limits import MAX_HTTP_REQUEST_BYTES


@pytest.fixture
async def service() -> AsyncIterator[DiscoveryService]:
    registry = StaticRegistry(
        [
            NodeInfo("e1", NodeKind.EDGE, "127.0.0.1:11", "ws://127.0.0.1:21", connections=10, zone="a"),
            NodeInfo("e2", NodeKind.EDGE, "127.0.0.1:12", "ws://127.0.0.1:22", connections=20, zone="b"),
        ]
    )
    service = await start_discovery(DiscoveryConfig(), registry)
    try:
        yield service
    finally:
        await service.stop(0.5)
        await registry.close()


async def exchange(service: DiscoveryService, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    assert service.http is not None
    reader, writer = await asyncio.open_connection(service.http.host, service.http.port)
    writer.write(raw)
    await writer.drain()
    data = await reader.read()  # the server closes after one answer
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), {k.lower(): v for k, v in headers.items()}, body


async def get(service: DiscoveryService, target: str) -> tuple[int, dict[str, str], dict[str, object]]:
    status, headers, body = await exchange(service, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return status, headers, orjson.loads(body)


async def test_get_edge_answers_where_to_connect_with_cors(service: DiscoveryService) -> None:
    status, headers, body = await get(service, "/v1/edge?user=alice")
    assert status == 200
    assert headers["access-control-allow-origin"] == "*"
    assert headers["content-type"] == "application/json"
    assert body == {"edgeId": "e1", "wsUrl": "ws://127.0.0.1:21", "grpcTarget": "127.0.0.1:11", "zone": "a"}


async def test_get_edge_takes_zone_device_and_previous(service: DiscoveryService) -> None:
    assert (await get(service, "/v1/edge?user=alice&zone=b"))[2]["edgeId"] == "e2"
    sticky = await get(service, "/v1/edge?user=alice&device=d1&previous=e2&zone=a")
    assert sticky[2]["edgeId"] == "e2"


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        ("/v1/edge", 400, "INVALID_ARGUMENT"),
        ("/v1/edge?user=Bad%20User", 400, "INVALID_ARGUMENT"),
        ("/v1/edge?user=alice&user=bob", 400, "INVALID_ARGUMENT"),
        ("/v1/other?user=alice", 404, "NOT_FOUND"),
    ],
)
async def test_bad_requests_get_the_protocol_error_shape(
    service: DiscoveryService, target: str, status: int, code: str
) -> None:
    got, headers, body = await get(service, target)
    assert got == status and headers["access-control-allow-origin"] == "*"
    error = body["error"]
    assert isinstance(error, dict) and error["code"] == code and error["message"]


async def test_no_edge_is_503_retryable(service: DiscoveryService) -> None:
    registry_edges = ("e1", "e2")
    for grpc_node in registry_edges:
        await _drain(service, grpc_node)
    status, _, body = await get(service, "/v1/edge?user=alice")
    assert status == 503
    assert body["error"] == {"code": "UNAVAILABLE", "message": "no edge available", "retryable": True}


async def _drain(service: DiscoveryService, node_id: str) -> None:
    from kernel.grpc_boundary import call
    from kernel.grpc_server import insecure_channel
    from protos import discovery_pb2, discovery_pb2_grpc

    async with insecure_channel(service.target) as channel:
        stub = discovery_pb2_grpc.DiscoveryStub(channel)
        await call(stub.SetDraining(discovery_pb2.SetDrainingRequest(node_id=node_id, draining=True)))


async def test_connections_beyond_the_cap_are_told_to_retry() -> None:
    registry = StaticRegistry([NodeInfo("e1", NodeKind.EDGE, "127.0.0.1:11", "ws://127.0.0.1:21")])
    service = await start_discovery(DiscoveryConfig(http_max_connections=1), registry)
    assert service.http is not None
    try:
        idle = await asyncio.open_connection(service.http.host, service.http.port)  # holds the one slot
        reader, writer = await asyncio.open_connection(service.http.host, service.http.port)
        answer = await reader.read()  # answered before the request is even read
        writer.close()
        status, body = int(answer.split(b" ")[1]), answer.partition(b"\r\n\r\n")[2]
        assert status == 503 and orjson.loads(body)["error"]["retryable"] is True
        idle[1].close()
        await idle[1].wait_closed()
    finally:
        await service.stop(0.5)
        await registry.close()


async def test_preflight_and_other_methods(service: DiscoveryService) -> None:
    status, headers, body = await exchange(service, b"OPTIONS /v1/edge HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 204 and headers["access-control-allow-methods"] == "GET, OPTIONS" and body == b""
    status, headers, body = await exchange(service, b"POST /v1/edge HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 405 and orjson.loads(body)["error"]["code"] == "INVALID_ARGUMENT"


async def test_garbage_and_oversize_heads_are_refused_and_the_server_lives_on(
    service: DiscoveryService,
) -> None:
    status, _, body = await exchange(service, b"\x00\xffnot http\r\n\r\n")
    assert status == 400 and orjson.loads(body)["error"]["code"] == "INVALID_ARGUMENT"
    huge = b"GET /v1/edge?user=alice HTTP/1.1\r\nX: " + b"a" * (MAX_HTTP_REQUEST_BYTES * 2) + b"\r\n\r\n"
    status, _, body = await exchange(service, huge)
    assert status == 431 and orjson.loads(body)["error"]["code"] == "TOO_LARGE"
    assert (await get(service, "/v1/edge?user=alice"))[0] == 200
