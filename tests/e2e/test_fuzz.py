"""Fuzzing the client protocol of a real `hubbub up` (default process layout) with hypothesis.

Over the JSON and binary WebSocket subprotocols and the gRPC stream, structured frames with
wild values, mutated valid frames and raw bytes are sent by an authenticated client. Checked:
every error carries a code from docs/protocol.md's table, every close code is documented, the
node's log has no traceback, and afterwards a normal client still chats.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor as F
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from edge.config import DEFAULT_MAX_FRAME_BYTES
from protos import client_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_DOC = ROOT / "docs" / "protocol.md"
WAIT_S = 20.0
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "500"))

pytestmark = pytest.mark.slow


def documented_error_codes() -> set[str]:
    """The codes in the Errors table of docs/protocol.md: clients may only ever see these."""
    text = PROTOCOL_DOC.read_text()
    section = text.split("## Errors", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.MULTILINE))


def documented_close_codes() -> set[int]:
    text = PROTOCOL_DOC.read_text()
    section = text.split("## Close codes", 1)[1].split("\n## ", 1)[0]
    return {int(code) for code in re.findall(r"^\| (\d{4}) \|", section, flags=re.MULTILINE)}


# ------------------------------------------------------------------ the node under test


@dataclass
class Node:
    ws_url: str
    grpc_target: str
    log_path: Path
    alice_token: str = ""
    bob_token: str = ""
    conversation_id: int = 0
    seen_codes: set[str] = field(default_factory=set)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("fuzz")
    log_path = tmp / "node.log"
    env = dict(os.environ)
    # Cheap password hashing: the fuzzer signs up a few users.
    env.update(
        HUBBUB_PASSWORD_HASH_TIME_COST="1",
        HUBBUB_PASSWORD_HASH_MEMORY_KIB="8",
        HUBBUB_PASSWORD_HASH_PARALLELISM="1",
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.cli", "up", "--ready-json", "--data-dir", str(tmp / "data"),
             "--ws-port", "0", "--gateway-port", "0", "--discovery-port", "0"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True,
        )  # fmt: skip
    assert proc.stdout is not None
    try:
        ready = json.loads(proc.stdout.readline())
        running = Node(ready["ws_url"], ready["gateway_target"], log_path)
        running.alice_token = sign_up(running.ws_url, "alice")
        running.bob_token = sign_up(running.ws_url, "bob")
        with JsonClient.open(running.ws_url, running.alice_token, "alice-d") as alice:
            reply = alice.request({"openDirect": {"peerId": "bob"}})
            running.conversation_id = int(reply["conversation"]["conversationId"])
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()


def sign_up(ws_url: str, user_id: str) -> str:
    with connect(
        ws_url,
        subprotocols=["hubbub.v1.json"],  # type: ignore[list-item]
        open_timeout=WAIT_S,
        ping_interval=None,  # as in JsonClient.open
    ) as ws:
        ws.send(json.dumps({"ref": "1", "hello": {"signUp": {"userId": user_id, "password": "fuzz-pass-1"}}}))
        welcome = json.loads(ws.recv(timeout=WAIT_S))
    token: str = welcome["welcome"]["token"]
    return token


# ------------------------------------------------------------------ clients


class JsonClient:
    """A sync JSON-subprotocol client: frames are dicts; `sync` waits on a ping's pong."""

    def __init__(self, ws: ClientConnection, subprotocol: str) -> None:
        self.ws = ws
        self.binary = subprotocol == "hubbub.v1.proto"
        self._ref = 1000

    @classmethod
    def open(cls, url: str, token: str, device: str, subprotocol: str = "hubbub.v1.json") -> JsonClient:
        # No keepalive pings: websockets' keepalive thread draws its ping payloads from the global
        # `random`, which Hypothesis refuses to see move during a draw (a flaky failure).
        ws = connect(
            url,
            subprotocols=[subprotocol],  # type: ignore[list-item]
            open_timeout=WAIT_S,
            max_size=2**24,
            ping_interval=None,
        ).__enter__()
        client = cls(ws, subprotocol)
        welcome = client.request({"hello": {"token": token, "deviceId": device}})
        assert "welcome" in welcome, welcome
        return client

    def __enter__(self) -> JsonClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.ws.close()

    def send_raw(self, data: bytes | str) -> None:
        self.ws.send(data)

    def send(self, frame: dict[str, Any]) -> None:
        if self.binary:
            message = pb.ClientFrame()
            json_format.ParseDict(frame, message)
            self.ws.send(message.SerializeToString())
        else:
            self.ws.send(json.dumps(frame))

    def receive(self) -> dict[str, Any]:
        data = self.ws.recv(timeout=WAIT_S)
        if isinstance(data, bytes):
            return json_format.MessageToDict(pb.ServerFrame.FromString(data))
        parsed: dict[str, Any] = json.loads(data)
        return parsed

    def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        self._ref += 1
        ref = str(self._ref)
        self.send({**frame, "ref": ref})
        while True:
            reply = self.receive()
            if reply.get("ref") == ref:
                return reply

    def sync(self) -> list[dict[str, Any]]:
        """Everything the server sent until the pong of a fresh ping (the edge answers pings in
        order, so every reply the edge itself wrote for earlier frames has arrived)."""
        self._ref += 1
        ref = str(self._ref)
        self.send({"ref": ref, "ping": {}})
        frames: list[dict[str, Any]] = []
        while True:
            frame = self.receive()
            if frame.get("ref") == ref and "pong" in frame:
                return frames
            frames.append(frame)


# ------------------------------------------------------------------ strategies

FRAME_KINDS = [
    "send", "delivered", "read", "typing", "resume", "history", "ping", "openDirect", "createGroup",
    "updateGroup", "listConversations", "readBy", "contact", "hello", "goodbye_", "bogus",
]  # fmt: skip
FIELD_NAMES = [
    "conversationId", "clientMsgId", "contentType", "body", "payload", "cursors", "seq", "active",
    "limitPerConversation", "anchorSeq", "direction", "limit", "newestFirst", "peerId", "title",
    "memberIds", "rename", "addMembers", "removeMember", "setRole", "userIds", "userId", "role",
    "beforeActivityMs", "add", "remove", "list", "token", "deviceId", "clientTimeMs",
]  # fmt: skip

wild_ints = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64]),
)
wild_scalars = st.one_of(
    wild_ints,
    wild_ints.map(str),
    st.text(max_size=40),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["HISTORY_DIRECTION_AFTER", "ROLE_OWNER", "ROLE_ADMIN", "x" * 70, "\u0000\ud7ff"]),
)
wild_values = st.recursive(
    wild_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(FIELD_NAMES), inner, max_size=4),
    ),
    max_leaves=12,
)


@st.composite
def structured_frame(draw: st.DrawFn, conversation_id: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(FRAME_KINDS))
    body: dict[str, Any] = draw(st.dictionaries(st.sampled_from(FIELD_NAMES), wild_values, max_size=5))
    if draw(st.booleans()):
        body["conversationId"] = str(conversation_id)
    if kind == "send" and draw(st.booleans()):
        body.setdefault("clientMsgId", draw(st.text(min_size=1, max_size=70)))
        body.setdefault("body", draw(st.text(max_size=50)))
    frame: dict[str, Any] = {kind: body}
    if draw(st.booleans()):
        frame["ref"] = draw(wild_scalars)
    if draw(st.booleans()):
        frame["trace"] = draw(wild_values)
    return frame


def valid_frames(conversation_id: int) -> list[pb.ClientFrame]:
    c = conversation_id
    return [
        pb.ClientFrame(ref=5, send=pb.SendMessage(conversation_id=c, client_msg_id="m", body="hi")),
        pb.ClientFrame(ref=6, read=pb.MarkRead(cursors=[pb.ConversationCursor(conversation_id=c, seq=1)])),
        pb.ClientFrame(ref=7, history=pb.FetchHistory(conversation_id=c, limit=5)),
        pb.ClientFrame(ref=8, typing=pb.Typing(conversation_id=c, active=True)),
        pb.ClientFrame(ref=9, update_group=pb.UpdateGroup(conversation_id=c, rename="x")),
        pb.ClientFrame(ref=10, resume=pb.Resume(cursors=[pb.ConversationCursor(conversation_id=c)])),
    ]


BOUNDARY_U64 = [0, 1, 2, 2**31, 2**32 - 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1]


@st.composite
def proto_message(draw: st.DrawFn, descriptor: Any, conversation_id: int, depth: int = 0) -> Any:
    """A message of `descriptor`'s type with every field drawn from its type's range, boundary
    values first: the frames a careless or hostile client can legally encode."""

    message = GetMessageClass(descriptor)()
    oneofs = {o.name: draw(st.sampled_from(list(o.fields))) for o in descriptor.oneofs if o.fields}
    for fd in descriptor.fields:
        chosen = fd.containing_oneof is not None and oneofs.get(fd.containing_oneof.name) is fd
        if fd.containing_oneof is not None and not chosen:
            continue
        if not chosen and not draw(st.sampled_from([True, True, True, False])):
            continue
        if fd.message_type is not None and depth >= 3:
            continue
        is_repeated = fd.is_repeated
        count = draw(st.sampled_from([0, 1, 2, 3, 300])) if is_repeated else 1
        values = [draw(field_value(fd, conversation_id, depth)) for _ in range(min(count, 3))]
        if is_repeated and count > 3:
            values = values * (count // max(1, len(values)))
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            target = getattr(message, fd.name)
            for entry in values:
                target[entry.key] = entry.value
        elif fd.message_type is not None:
            if is_repeated:
                getattr(message, fd.name).extend(values)
            else:
                getattr(message, fd.name).CopyFrom(values[0])
        elif is_repeated:
            getattr(message, fd.name).extend(values)
        else:
            setattr(message, fd.name, values[0])
    return message


def field_value(fd: Any, conversation_id: int, depth: int) -> st.SearchStrategy[Any]:

    kind = fd.type
    if kind == F.TYPE_MESSAGE:
        return proto_message(fd.message_type, conversation_id, depth + 1)
    if kind == F.TYPE_UINT64:
        special = [conversation_id] * 3 if fd.name == "conversation_id" else []
        return st.sampled_from([*BOUNDARY_U64, *special, 2**63, 2**64 - 1, 12345])
    if kind == F.TYPE_INT64:
        return st.one_of(st.sampled_from([-(2**63), -1, 0, 2**63 - 1]), st.integers(-(2**63), 2**63 - 1))
    if kind == F.TYPE_UINT32:
        return st.one_of(st.sampled_from([0, 1, 100, 101, 2**32 - 1]), st.integers(0, 2**32 - 1))
    if kind == F.TYPE_BOOL:
        return st.booleans()
    if kind == F.TYPE_ENUM:
        return st.sampled_from([v.number for v in fd.enum_type.values])
    if kind == F.TYPE_BYTES:
        return st.one_of(st.binary(max_size=40), st.just(b"\0" * 400_001))
    return st.sampled_from(["a1", "bob", "alice", "", "x" * 65, "x" * 100_001, "\u0000", "\ud7ff" * 3, "é"])


def client_frames(conversation_id: int) -> st.SearchStrategy[pb.ClientFrame]:
    return proto_message(pb.ClientFrame.DESCRIPTOR, conversation_id).filter(
        lambda f: f.WhichOneof("kind") not in ("goodbye", "hello", "log_out_everywhere")
    )


@st.composite
def mutated_bytes(draw: st.DrawFn, conversation_id: int) -> bytes:
    data = bytearray(draw(st.sampled_from(valid_frames(conversation_id))).SerializeToString())
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "append"]))
        at = draw(st.integers(min_value=0, max_value=max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] ^= draw(st.integers(min_value=1, max_value=255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[at]
        else:
            data += draw(st.binary(max_size=12))
    return bytes(data)


def binary_frames(conversation_id: int) -> st.SearchStrategy[bytes]:
    return st.one_of(
        client_frames(conversation_id).map(lambda f: f.SerializeToString()),
        client_frames(conversation_id).map(lambda f: f.SerializeToString()),
        mutated_bytes(conversation_id),
        st.binary(max_size=60),
    )


# ------------------------------------------------------------------ checks


def snake_case_field_names() -> set[str]:
    """Every multi-word field name of the client protocol, as protobuf spells it: a client of
    the JSON subprotocol knows them in camelCase only, so error messages must not use these."""
    names: set[str] = set()
    pending = [pb.ClientFrame.DESCRIPTOR]
    seen: set[str] = set()
    while pending:
        descriptor = pending.pop()
        if descriptor.full_name in seen:
            continue
        seen.add(descriptor.full_name)
        for fd in descriptor.fields:
            if "_" in fd.name:
                names.add(fd.name)
            if fd.message_type is not None:
                pending.append(fd.message_type)
    return names


SNAKE_CASE_FIELDS = snake_case_field_names()


def check_frames(node: Node, frames: list[dict[str, Any]]) -> None:
    allowed = documented_error_codes()
    for frame in frames:
        error = frame.get("error")
        if error is not None:
            node.seen_codes.add(error["code"])
            assert error["code"] in allowed, f"undocumented error code in {frame}"
            assert "Traceback" not in error.get("message", ""), frame
            assert "grpc" not in error.get("message", "").lower(), f"internal detail leaks: {frame}"
            assert "hubbub.v1" not in error.get("message", ""), f"protobuf internals leak: {frame}"
            words = set(re.findall(r"[a-z]+(?:_[a-z]+)+", error.get("message", "")))
            assert not words & SNAKE_CASE_FIELDS, f"a field named as protobuf, not as JSON: {frame}"


def run_one(node: Node, client_box: list[JsonClient], subprotocol: str, data: bytes | str | None,
            frame: dict[str, Any] | None) -> None:  # fmt: skip
    client = client_box[0]
    try:
        if frame is not None:
            client.send_raw(json.dumps(frame))
        elif data is not None:
            client.send_raw(data)
        check_frames(node, client.sync())
    except ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd is not None else None
        assert code in documented_close_codes(), f"undocumented close {code}"
        client_box[0] = JsonClient.open(node.ws_url, node.alice_token, f"fuzz-{subprotocol}", subprotocol)


@pytest.fixture(scope="module")
def json_client(node: Node) -> Iterator[list[JsonClient]]:
    box = [JsonClient.open(node.ws_url, node.alice_token, "fuzz-json")]
    yield box
    box[0].ws.close()


@pytest.fixture(scope="module")
def proto_client(node: Node) -> Iterator[list[JsonClient]]:
    box = [JsonClient.open(node.ws_url, node.alice_token, "fuzz-proto", "hubbub.v1.proto")]
    yield box
    box[0].ws.close()


FUZZ_TIMEOUT = pytest.mark.timeout(600)
"""A fuzz run is bounded by its examples, each by WAIT_S: its length depends on what it draws
(a run that draws many 10 MB frames takes minutes), not on the server being slow, so it gets
more than the suite's 120 s per test."""

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ_TIMEOUT
@FUZZ
@given(data=st.data())
def test_json_subprotocol_fuzz(node: Node, json_client: list[JsonClient], data: st.DataObject) -> None:
    choice = data.draw(st.integers(min_value=0, max_value=4))
    if choice == 0:
        raw = data.draw(st.one_of(st.text(max_size=60), st.binary(max_size=60)))
        run_one(node, json_client, "hubbub.v1.json", raw, None)
    elif choice <= 2:
        run_one(node, json_client, "hubbub.v1.json", None, data.draw(structured_frame(node.conversation_id)))
    else:
        frame = data.draw(client_frames(node.conversation_id))
        run_one(node, json_client, "hubbub.v1.json", None, json_format.MessageToDict(frame))


@FUZZ_TIMEOUT
@FUZZ
@given(data=st.data())
def test_proto_subprotocol_fuzz(node: Node, proto_client: list[JsonClient], data: st.DataObject) -> None:
    raw = data.draw(binary_frames(node.conversation_id))
    run_one(node, proto_client, "hubbub.v1.proto", raw, None)


class GrpcStream:
    """A raw gRPC-stream client: bytes in, ServerFrames out, on a background reader thread."""

    def __init__(self, target: str, token: str) -> None:
        self.channel = grpc.insecure_channel(target)
        connect_call = self.channel.stream_stream(
            "/hubbub.v1.Gateway/Connect",
            request_serializer=lambda b: b,
            response_deserializer=pb.ServerFrame.FromString,
        )
        self.outgoing: queue.Queue[bytes | None] = queue.Queue()
        self.incoming: queue.Queue[pb.ServerFrame | grpc.RpcError] = queue.Queue()
        self.call = connect_call(iter(self.outgoing.get, None))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.ref = 1000
        self.send(
            pb.ClientFrame(ref=1, hello=pb.Hello(token=token, device_id="fuzz-grpc")).SerializeToString()
        )
        assert self.next().WhichOneof("kind") == "welcome"

    def _read(self) -> None:
        try:
            for frame in self.call:
                self.incoming.put(frame)
        except grpc.RpcError as exc:
            self.incoming.put(exc)

    def send(self, data: bytes) -> None:
        self.outgoing.put(data)

    def next(self) -> pb.ServerFrame:
        item = self.incoming.get(timeout=WAIT_S)
        if isinstance(item, grpc.RpcError):
            raise item
        return item

    def sync(self) -> list[pb.ServerFrame]:
        self.ref += 1
        self.send(pb.ClientFrame(ref=self.ref, ping=pb.Ping()).SerializeToString())
        frames: list[pb.ServerFrame] = []
        while True:
            frame = self.next()
            if frame.ref == self.ref and frame.WhichOneof("kind") == "pong":
                return frames
            frames.append(frame)

    def close(self) -> None:
        self.outgoing.put(None)
        self.channel.close()


@pytest.fixture(scope="module")
def grpc_stream(node: Node) -> Iterator[list[GrpcStream]]:
    box = [GrpcStream(node.grpc_target, node.alice_token)]
    yield box
    box[0].close()


@FUZZ_TIMEOUT
@FUZZ
@given(data=st.data())
def test_grpc_stream_fuzz(node: Node, grpc_stream: list[GrpcStream], data: st.DataObject) -> None:
    raw = data.draw(binary_frames(node.conversation_id))
    stream = grpc_stream[0]
    stream.send(raw)
    try:
        frames = stream.sync()
    except grpc.RpcError as exc:
        # Only a message over the documented per-frame limit may end the stream, and only
        # with RESOURCE_EXHAUSTED (docs/protocol.md, Transports); then the client reconnects.
        if len(raw) <= DEFAULT_MAX_FRAME_BYTES or exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
            pytest.fail(f"one bad message ended the stream: {exc.code()} {exc.details()}")
        stream.close()
        grpc_stream[0] = GrpcStream(node.grpc_target, node.alice_token)
        return
    check_frames(node, [json_format.MessageToDict(f) for f in frames])


def test_after_fuzzing_the_node_has_no_traceback_and_still_chats(node: Node) -> None:
    with (
        JsonClient.open(node.ws_url, node.alice_token, "after-a") as alice,
        JsonClient.open(node.ws_url, node.bob_token, "after-b") as bob,
    ):
        body = base64.b64encode(os.urandom(9)).decode()
        sent = alice.request(
            {"send": {"conversationId": str(node.conversation_id), "clientMsgId": body, "body": body}}
        )
        assert "sent" in sent, sent
        while True:
            frame = bob.receive()
            if frame.get("message", {}).get("body") == body:
                break
    log = node.log_text()
    assert "Traceback" not in log, log[-4000:]
    assert "Task exception was never retrieved" not in log
