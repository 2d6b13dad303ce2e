"""Discovery's plain HTTP face for browsers: `GET /v1/edge?user=..&device=..&zone=..&previous=..`
answers the edge to connect to as JSON, with CORS so any page may ask. One request per
connection, bounded in bytes and time; errors in the protocol's JSON error shape."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import orjson
from google.protobuf import json_format

from discovery.model import NodeInfo
from kernel.error_frames import fill_from
from kernel.errors import ErrorCode, HubbubError, Internal, InvalidArgument, NotFound, Unavailable
from kernel.limits import MAX_HTTP_REQUEST_BYTES
from protos import client_pb2, discovery_pb2

log = logging.getLogger(__name__)

EDGE_PATH = "/v1/edge"
READ_TIMEOUT_S = 10.0
HTTP_STATUS = {
    ErrorCode.INVALID_ARGUMENT: 400,
    ErrorCode.BAD_FRAME: 400,
    ErrorCode.TOO_LARGE: 431,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
}
_REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
            503: "Service Unavailable"}  # fmt: skip
_CORS = (
    b"Access-Control-Allow-Origin: *\r\n"
    b"Access-Control-Allow-Methods: GET, OPTIONS\r\n"
    b"Access-Control-Max-Age: 600\r\n"
)
_QUERY_FIELDS = {"user": "user_id", "device": "device_id", "zone": "zone", "previous": "previous_edge_id"}

Assign = Callable[[discovery_pb2.AssignEdgeRequest], Awaitable[NodeInfo]]


class MethodNotAllowed(InvalidArgument):
    """Anything but GET (and the CORS preflight's OPTIONS)."""


@dataclass
class HttpService:
    server: asyncio.Server
    host: str

    @property
    def port(self) -> int:
        return int(next(iter(self.server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        self.server.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await self.server.wait_closed()


def assignment_json(edge: NodeInfo) -> dict[str, object]:
    """The answer's body: where to connect (camelCase, as the JSON subprotocol names fields)."""
    return {"edgeId": edge.node_id, "wsUrl": edge.ws_url, "grpcTarget": edge.grpc_target, "zone": edge.zone}


def error_json(error: HubbubError) -> dict[str, object]:
    return {"error": json_format.MessageToDict(fill_from(client_pb2.Error(), error))}


def parse_target(target: str) -> discovery_pb2.AssignEdgeRequest:
    """The request an edge query asks for; NotFound for another path, InvalidArgument for a
    parameter given twice."""
    split = urlsplit(target)
    if split.path != EDGE_PATH:
        raise NotFound(f"no such path (discovery serves GET {EDGE_PATH})")
    request = discovery_pb2.AssignEdgeRequest()
    for name, values in parse_qs(split.query, keep_blank_values=True).items():
        field = _QUERY_FIELDS.get(name)
        if field is None:
            continue  # unknown parameters are ignored, as unknown frame fields are
        if len(values) > 1:
            raise InvalidArgument(f"{name} is given more than once")
        setattr(request, field, values[0])
    if not request.user_id:
        raise InvalidArgument(f"user is required ({EDGE_PATH}?user=...)")
    return request


def response(status: int, body: bytes, *, extra: bytes = b"") -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nCache-Control: no-store\r\n"
    ).encode()
    content_type = b"Content-Type: application/json\r\n" if body else b""
    return head + content_type + _CORS + extra + b"\r\n" + body


async def answer(head: bytes, assign: Assign) -> bytes:
    """The response to one request head (request line and headers)."""
    try:
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise InvalidArgument("not an HTTP/1.x request")
        method, target, _ = parts
        if method == "OPTIONS":
            return response(204, b"", extra=b"Access-Control-Allow-Headers: *\r\n")
        if method != "GET":
            raise MethodNotAllowed(f"{method} is not allowed here: use GET")
        edge = await assign(parse_target(target))
        return response(200, orjson.dumps(assignment_json(edge)))
    except HubbubError as exc:
        status = 405 if isinstance(exc, MethodNotAllowed) else HTTP_STATUS.get(exc.code, 500)
        extra = b"Allow: GET, OPTIONS\r\n" if status == 405 else b""
        return response(status, orjson.dumps(error_json(exc)), extra=extra)
    except Exception:  # the boundary: never leak a traceback
        log.exception("discovery HTTP request failed")
        return response(500, orjson.dumps(error_json(Internal("internal error"))))


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """The request head, or None when it is too large (431) or malformed."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        return None


async def start_http(host: str, port: int, assign: Assign, max_connections: int = 1024) -> HttpService:
    """Beyond `max_connections` at once, a new connection is answered 503 at once (retryable)."""
    open_connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_connections
        if open_connections >= max_connections:
            busy = Unavailable("discovery is busy: retry")
            writer.write(response(503, orjson.dumps(error_json(busy))))
            writer.close()
            return
        open_connections += 1
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                head = await _read_head(reader)
            if head is None:
                too_large = HubbubError("request head too large", code=ErrorCode.TOO_LARGE)
                writer.write(response(431, orjson.dumps(error_json(too_large))))
            else:
                writer.write(await answer(head, assign))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass  # a client that left or stalled: nothing to answer
        finally:
            open_connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    server = await asyncio.start_server(serve, host, port, limit=MAX_HTTP_REQUEST_BYTES)
    return HttpService(server, host)
