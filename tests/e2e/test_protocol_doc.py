"""Every JSON example in docs/protocol.md is checked against a live node, so the doc cannot drift.

Each example must parse strictly as a ClientFrame or a ServerFrame. The client examples are then
sent in document order by alice (ids such as "42" mapped to real conversations); each server
example with a `ref` must match the real reply to the client example with that ref, and each
push example (no `ref`) a push that alice or bob received. "Match" means every field the doc
shows is present in the real frame (so the doc never shows a field the server omits), enum
values are equal, and every item of a list the doc shows is like some item of the real list.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from deploy.config import NodeConfig
from deploy.single_node import SingleNode, start_single_node
from protos import client_pb2 as pb
from tests.e2e.conftest import config_for_tests

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
WAIT_S = 15.0
ENUM_VALUE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")
# The doc's example ids, and which real conversation each stands for.
DIRECT, GROUP, OTHER_GROUP = "42", "77", "7"
# Frames that end a session: played last, once everything else has been checked.
FINAL_KINDS = ("goodbye", "logOutEverywhere")


@dataclass
class Example:
    section: str
    text: str
    frame: dict[str, Any]
    client: bool

    @property
    def ref(self) -> str:
        return str(self.frame.get("ref", ""))

    @property
    def kind(self) -> str:
        return next(k for k in self.frame if k not in ("ref", "trace"))


def doc_examples() -> list[Example]:
    examples: list[Example] = []
    section = ""
    decoder = json.JSONDecoder()
    blocks = re.split(r"^(#+ .*)$", DOC.read_text(), flags=re.MULTILINE)
    for part in blocks:
        if part.startswith("#"):
            section = part.strip("# ").strip()
            continue
        for block in re.findall(r"```json\n(.*?)```", part, flags=re.DOTALL):
            at = 0
            while True:
                while at < len(block) and block[at].isspace():
                    at += 1
                if at >= len(block):
                    break
                frame, end = decoder.raw_decode(block, at)
                examples.append(Example(section, block[at:end], frame, is_client_frame(frame)))
                at = end
    return examples


def is_client_frame(frame: dict[str, Any]) -> bool:
    """Strictly a ClientFrame, else strictly a ServerFrame; an example that is neither fails."""
    try:
        json_format.ParseDict(frame, pb.ClientFrame())
        return True
    except json_format.ParseError:
        pass
    json_format.ParseDict(frame, pb.ServerFrame())  # raises: the example is no frame at all
    return False


def test_every_example_is_a_valid_frame() -> None:
    examples = doc_examples()
    assert len(examples) > 30
    for example in examples:
        assert example.client == is_client_frame(example.frame), example.text


def covers(doc: Any, real: Any, path: str = "") -> list[str]:
    """Where the real frame lacks what the doc shows (empty = the doc is true to the server)."""
    if isinstance(doc, dict):
        if not isinstance(real, dict):
            return [f"{path}: the server sends {real!r}"]
        problems = []
        for key, value in doc.items():
            if key not in real:
                problems.append(f"{path}.{key}: the server omits it")
            else:
                problems += covers(value, real[key], f"{path}.{key}")
        return problems
    if isinstance(doc, list):
        if not isinstance(real, list) or (doc and not real):
            return [f"{path}: the server sends {real!r}"]
        for at, item in enumerate(doc):
            if all(covers(item, candidate) for candidate in real):
                return [f"{path}[{at}]: no item like it; the server sends {real!r}"[:400]]
        return []
    if isinstance(doc, str) and ENUM_VALUE.match(doc) and doc != real:
        return [f"{path}: the doc says {doc}, the server sends {real!r}"]
    return []


# ------------------------------------------------------------------ a live node and its clients


class JsonClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.arrived = asyncio.Condition()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str) -> JsonClient:
        ws = await connect(url, subprotocols=["hubbub.v1.json"])  # type: ignore[list-item]
        return cls(ws)

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for data in self.ws:
                async with self.arrived:
                    self.frames.append(json.loads(data))
                    self.arrived.notify_all()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def wait_for(self, want: Any, since: int = 0) -> dict[str, Any]:
        async with asyncio.timeout(WAIT_S), self.arrived:
            while True:
                for frame in self.frames[since:]:
                    if want(frame):
                        return frame
                await self.arrived.wait()

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


PASSWORD = "correct horse battery"  # alice's, as the doc's log-in example says


async def signed_up(url: str, user_id: str, device_id: str) -> tuple[JsonClient, str]:
    client = await JsonClient.open(url)
    hello = {"signUp": {"userId": user_id, "password": PASSWORD}, "deviceId": device_id}
    await client.send({"ref": "1", "hello": hello})
    welcome = await client.wait_for(lambda f: "welcome" in f or "error" in f)
    assert "welcome" in welcome, welcome
    return client, str(welcome["welcome"]["token"])


@dataclass
class Scene:
    node: SingleNode
    ids: dict[str, str]
    tokens: dict[str, str]
    bob: JsonClient
    others: list[JsonClient] = field(default_factory=list)


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[Scene]:
    config: NodeConfig = config_for_tests(tmp_path, heartbeat_interval_ms=15_000, heartbeat_timeout_ms=45_000)
    node = await start_single_node(config)
    try:
        alice, alice_token = await signed_up(node.ws_url, "alice", "alice-setup")
        bob, bob_token = await signed_up(node.ws_url, "bob", "bob-phone")
        carol, _ = await signed_up(node.ws_url, "carol", "carol-phone")
        dave, _ = await signed_up(node.ws_url, "dave", "dave-phone")
        ids = {}
        for ref, frame, doc_id in (
            ("2", {"openDirect": {"peerId": "bob"}}, DIRECT),
            ("3", {"createGroup": {"title": "climbing", "memberIds": ["bob", "carol"]}}, GROUP),
            ("4", {"createGroup": {"title": "boulders", "memberIds": ["bob"]}}, OTHER_GROUP),
        ):
            await alice.send({"ref": ref, **frame})
            reply = await alice.wait_for(lambda f, r=ref: f.get("ref") == r)
            ids[doc_id] = reply["conversation"]["conversationId"]
        await alice.send({"ref": "5", "contact": {"add": "bob"}})
        await bob.send({"ref": "5", "contact": {"add": "alice"}})
        # The doc's story so far: 20 messages in the direct chat, 5 in the group (bob has read
        # them, carol has received them), 3 unread from bob in the other group.
        for n in range(20):
            await send(alice if n % 2 else bob, ids[DIRECT], f"direct {n}")
        for n in range(5):
            await send(alice, ids[GROUP], f"group {n}")
        for _ in range(3):
            await send(bob, ids[OTHER_GROUP], "anyone climbing?")
        await bob.send({"ref": "6", "read": {"cursors": [{"conversationId": ids[GROUP], "seq": "5"}]}})
        await carol.send({"ref": "6", "delivered": {"cursors": [{"conversationId": ids[GROUP], "seq": "5"}]}})
        await alice.close()
        yield Scene(node, ids, {"alice": alice_token, "bob": bob_token}, bob, [carol, dave])
    finally:
        await node.stop()


_sends = iter(range(1000, 10**6))


async def send(client: JsonClient, conversation_id: str, body: str) -> None:
    ref = str(next(_sends))
    await client.send(
        {"ref": ref, "send": {"conversationId": conversation_id, "clientMsgId": ref, "body": body}}
    )
    reply = await client.wait_for(lambda f: f.get("ref") == ref)
    assert "sent" in reply, reply


def with_real_ids(value: Any, ids: dict[str, str], token: str) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "conversationId" and isinstance(item, str):
                out[key] = ids.get(item, item)
            elif key == "token":
                out[key] = token
            else:
                out[key] = with_real_ids(item, ids, token)
        return out
    if isinstance(value, list):
        return [with_real_ids(item, ids, token) for item in value]
    return value


async def test_every_example_matches_a_live_server(scene: Scene) -> None:
    examples = doc_examples()
    alice: JsonClient | None = None
    sent_at: dict[str, int] = {}
    problems: list[str] = []
    final_refs = {e.ref for e in examples if e.client and e.kind in FINAL_KINDS and e.ref}
    for example in examples:
        if example.ref in final_refs and example.kind != "goodbye":
            continue  # played at the end
        if example.client:
            if example.kind == "goodbye":
                continue  # sent last, by bob, so alice sees him go offline
            frame = with_real_ids(example.frame, scene.ids, scene.tokens["alice"])
            if example.kind == "hello":
                if alice is not None:
                    await alice.close()
                alice = await JsonClient.open(scene.node.ws_url)
            assert alice is not None, "the doc's first client example must be a hello"
            sent_at[example.ref] = len(alice.frames)
            await alice.send(frame)
        elif example.ref:
            assert alice is not None and example.ref in sent_at, f"a reply to nothing: {example.text}"
            kind = example.kind
            try:
                real = await alice.wait_for(
                    lambda f, r=example.ref, k=kind: f.get("ref") == r and k in f, sent_at[example.ref]
                )
            except TimeoutError:
                problems.append(f"[{example.section}] no {kind} answers ref {example.ref}: {example.text}")
                continue
            problems += [f"[{example.section}] {p}" for p in covers(example.frame, real)]
    assert alice is not None
    await scene.bob.send({"goodbye": {}})
    for example in (e for e in examples if not e.client and not e.ref):
        kind = example.kind
        for client in (scene.bob, alice):
            with contextlib.suppress(TimeoutError):
                await client.wait_for(lambda f, d=example.frame, k=kind: k in f and not covers(d, f))
                break
        else:
            near = [f for c in (scene.bob, alice) for f in c.frames if kind in f][-1:]
            problems.append(f"[{example.section}] no push like {example.text} (closest: {near})")
    for example in (e for e in examples if e.ref in final_refs and e.kind != "goodbye"):
        if example.client:
            sent_at[example.ref] = len(alice.frames)
            await alice.send(with_real_ids(example.frame, scene.ids, scene.tokens["alice"]))
            continue
        try:
            real = await alice.wait_for(
                lambda f, r=example.ref, k=example.kind: f.get("ref") == r and k in f, sent_at[example.ref]
            )
        except TimeoutError:
            problems.append(f"[{example.section}] no {example.kind} answers ref {example.ref}")
            continue
        problems += [f"[{example.section}] {p}" for p in covers(example.frame, real)]
    await alice.close()
    assert not problems, "\n".join(problems)
