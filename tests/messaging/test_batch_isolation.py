"""One bad item in an Append or UpdateCursors batch fails only itself (finding 3 of issue 7):
ids past the signed 64-bit range, a protobuf -1 (2**64-1) and a store that throws for one
message, through the real gRPC servicer on SQLite and through Messages; and a member load
whose every waiter went away still has its exception retrieved."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence
from pathlib import Path

import pytest

from kernel.clock import ManualClock
from kernel.errors import Internal
from messaging.appends import SendItem
from messaging.membership import MemberCache
from messaging.model import AppendOutcome, Conversation, CursorKind, CursorUpdate, NewMessage
from messaging.store.memory import MemoryStore
from messaging.store.sqlite import SqliteStore
from protos import client_pb2, messaging_pb2
from tests.messaging.conftest import Client, build_services
from tests.messaging.test_grpc_servicer import append, new_group, send_item

TOO_BIG = 2**63
MINUS_ONE = 2**64 - 1  # what a protobuf int64 -1 becomes in a uint64 field


async def test_append_batch_with_out_of_range_ids_stores_the_rest(client: Client) -> None:
    cid = await new_group(client, "alice", "bob")
    results = await append(
        client,
        send_item("alice", cid, "a1"),
        send_item("alice", TOO_BIG, "bad-1"),
        send_item("bob", cid, "b1"),
        send_item("bob", MINUS_ONE, "bad-2"),
        send_item("alice", cid, "a2"),
    )
    assert [r.WhichOneof("outcome") for r in results] == ["message", "error", "message", "error", "message"]
    assert [results[i].message.seq for i in (0, 2, 4)] == [1, 2, 3]
    assert {results[1].error.code, results[3].error.code} == {"INVALID_ARGUMENT"}


async def test_cursor_batch_with_out_of_range_ids_moves_the_rest(client: Client) -> None:
    cid = await new_group(client, "alice", "bob")
    await append(client, send_item("alice", cid, "a1"), send_item("alice", cid, "a2"))
    read = client_pb2.RECEIPT_KIND_READ
    updates = [
        messaging_pb2.CursorUpdate(user_id="bob", conversation_id=TOO_BIG, kind=read, seq=1),
        messaging_pb2.CursorUpdate(user_id="bob", conversation_id=cid, kind=read, seq=MINUS_ONE),
        messaging_pb2.CursorUpdate(user_id="bob", conversation_id=cid, kind=read, seq=2),
        messaging_pb2.CursorUpdate(user_id="alice", conversation_id=MINUS_ONE, kind=read, seq=2),
    ]
    reply = await client.messaging.UpdateCursors(messaging_pb2.CursorUpdates(updates=updates))
    codes = [r.error.code for r in reply.results]
    assert codes == ["INVALID_ARGUMENT", "INVALID_ARGUMENT", "", "INVALID_ARGUMENT"]
    assert (reply.results[2].moved, reply.results[2].read_seq) == (True, 2)


class ThrowingStore(MemoryStore):
    """A store that cannot take one particular message or cursor (any unexpected failure)."""

    async def append(self, messages: Sequence[NewMessage]) -> list[AppendOutcome]:
        if any(m.body == "poison" for m in messages):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return await super().append(messages)

    async def advance_cursors(self, updates: Sequence[CursorUpdate]) -> list[object]:  # type: ignore[override]
        if any(u.seq == 3 for u in updates):
            raise OverflowError("boom")
        return list(await super().advance_cursors(updates))


async def test_a_store_failure_for_one_item_fails_only_that_item() -> None:
    services = build_services(ThrowingStore())
    await services.users("alice", "bob")
    created = await services.conversations.create_group("alice", "g", ["bob"])
    cid = created.details.conversation.conversation_id
    items = [
        SendItem("alice", "d", cid, f"m{i}", "text/plain", body, b"")
        for i, body in enumerate(["a", "poison", "b", "c"])
    ]
    results = await services.messages.append(items)
    assert isinstance(results[1], Internal)
    stored = [r for r in results if isinstance(r, AppendOutcome)]
    assert [r.message.seq for r in stored] == [1, 2, 3]
    outcomes = await services.messages.update_cursors(
        [
            CursorUpdate("bob", cid, CursorKind.READ, 1),
            CursorUpdate("alice", cid, CursorKind.READ, 3),
            CursorUpdate("bob", cid, CursorKind.DELIVERED, 2),
        ]
    )
    assert [type(o.error).__name__ if o.error else None for o in outcomes] == [None, "Internal", None]
    assert outcomes[2].change is not None and outcomes[2].change.cursors.delivered_seq == 2


class GatedStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def get_conversation(self, conversation_id: int) -> Conversation | None:
        self.entered.set()
        await self.gate.wait()
        return await super().get_conversation(conversation_id)


async def test_a_failed_load_whose_waiters_left_is_not_logged_as_never_retrieved() -> None:
    store = GatedStore()
    cache = MemberCache(store, ManualClock(), max_size=10, ttl_s=5.0)
    unhandled: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    try:
        waiter = asyncio.create_task(cache.get(404))
        async with asyncio.timeout(30):
            await store.entered.wait()
        (load,) = cache._loading.values()  # the load in flight, watched without retrieving it
        waiter.cancel()  # the caller goes away (a cancelled RPC) while the load is in flight
        with pytest.raises(asyncio.CancelledError):
            await waiter
        store.gate.set()
        async with asyncio.timeout(30):
            await asyncio.wait([load])  # done, its NotFound untouched by this test
        del load
        gc.collect()  # an unretrieved task exception is reported when the task is collected
    finally:
        loop.set_exception_handler(None)
    assert unhandled == []


async def test_a_message_sqlite_cannot_take_fails_alone_and_seqs_stay_gap_free(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "messages.db")
    await store.open()
    try:
        services = build_services(store)  # type: ignore[arg-type]
        await services.users("alice", "bob")
        created = await services.conversations.create_group("alice", "g", ["bob"])
        cid = created.details.conversation.conversation_id
        bodies = ["a", "\ud800", "b"]  # a lone surrogate: sqlite3 cannot encode it
        items = [
            SendItem("alice", "d", cid, f"m{i}", "text/plain", body, b"") for i, body in enumerate(bodies)
        ]
        results = await services.messages.append(items)
        assert isinstance(results[1], Internal)
        assert [r.message.seq for r in results if isinstance(r, AppendOutcome)] == [1, 2]
    finally:
        await store.close()
