"""The messaging API against a real server (SQLite store on tmp_path, port 0), over gRPC and
through the in-process adapters (the `client` fixture runs each case both ways): statuses and
`hubbub-error-code` metadata, per-item results, paging, cursors, limits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio

from kernel.clock import SystemClock
from kernel.errors import ErrorCode, HubbubError
from kernel.grpc_boundary import ERROR_CODE_KEY, call
from kernel.grpc_server import insecure_channel
from kernel.tokens import verify_token
from messaging import start_messaging
from messaging.model import User
from messaging.store.memory import MemoryStore
from protos import client_pb2, messaging_pb2, messaging_pb2_grpc
from tests.messaging.conftest import SECRET, Client, cheap_config

PASSWORD = "password123"


async def expect_error(attempt: Awaitable[object], status: grpc.StatusCode, code: ErrorCode) -> HubbubError:
    """The call fails with `code` as its caller sees it (`call` maps a gRPC failure); over
    gRPC also with `status` and the code in the trailing metadata."""
    with pytest.raises(HubbubError) as info:
        await call(attempt)
    assert info.value.code == code
    rpc = info.value.__cause__
    if isinstance(rpc, aio.AioRpcError):
        assert rpc.code() == status
        assert dict(rpc.trailing_metadata() or ()).get(ERROR_CODE_KEY) == code.value
    return info.value


async def sign_up(client: Client, *user_ids: str) -> None:
    await asyncio.gather(
        *(client.accounts.SignUp(messaging_pb2.SignUpRequest(user_id=u, password=PASSWORD)) for u in user_ids)
    )


async def new_group(client: Client, owner: str, *members: str) -> int:
    await sign_up(client, owner, *members)
    conversation = await client.messaging.CreateGroup(
        messaging_pb2.CreateGroupRequest(user_id=owner, title="team", member_ids=members)
    )
    return conversation.conversation_id


def send_item(sender: str, cid: int, client_msg_id: str, body: str = "hi") -> messaging_pb2.AppendItem:
    return messaging_pb2.AppendItem(
        sender_id=sender,
        sender_device="phone",
        message=client_pb2.SendMessage(conversation_id=cid, client_msg_id=client_msg_id, body=body),
    )


async def append(client: Client, *items: messaging_pb2.AppendItem) -> list[messaging_pb2.AppendResult]:
    reply = await client.messaging.Append(messaging_pb2.AppendRequest(items=items))
    return list(reply.results)


def history(cid: int, user: str = "alice", **query: object) -> messaging_pb2.HistoryRequest:
    return messaging_pb2.HistoryRequest(
        user_id=user,
        query=client_pb2.FetchHistory(conversation_id=cid, **query),  # type: ignore[arg-type]
    )


async def test_sign_up_and_log_in(client: Client) -> None:
    signed = await client.accounts.SignUp(
        messaging_pb2.SignUpRequest(user_id="alice", password=PASSWORD, display_name="Alice")
    )
    logged = await client.accounts.LogIn(messaging_pb2.LogInRequest(user_id="alice", password=PASSWORD))
    for reply in (signed, logged):
        assert verify_token(SECRET, reply.token, SystemClock().now_ms()).user_id == "alice"
    profile = await client.accounts.GetProfile(messaging_pb2.UserRequest(user_id="alice"))
    assert profile.display_name == "Alice"

    await expect_error(
        client.accounts.LogIn(messaging_pb2.LogInRequest(user_id="alice", password="wrong-password")),
        grpc.StatusCode.UNAUTHENTICATED,
        ErrorCode.UNAUTHENTICATED,
    )
    await expect_error(
        client.accounts.SignUp(messaging_pb2.SignUpRequest(user_id="alice", password=PASSWORD)),
        grpc.StatusCode.ALREADY_EXISTS,
        ErrorCode.CONFLICT,
    )
    await expect_error(
        client.accounts.SignUp(messaging_pb2.SignUpRequest(user_id="BAD ID", password=PASSWORD)),
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.INVALID_ARGUMENT,
    )


async def test_send_and_retry_store_once(client: Client) -> None:
    cid = await new_group(client, "alice", "bob")
    [first] = await append(client, send_item("alice", cid, "c1", "hello"))
    assert first.WhichOneof("outcome") == "message" and not first.duplicate
    assert (first.message.seq, first.message.body, first.message.sender_device) == (1, "hello", "phone")
    assert first.message.message_id > 0 and first.message.sent_at_ms > 0

    retries = await append(client, send_item("alice", cid, "c1", "hello"), send_item("alice", cid, "c1"))
    for retry in retries:
        assert retry.duplicate
        assert retry.message == first.message
    page = await client.messaging.History(history(cid))
    assert [m.client_msg_id for m in page.messages] == ["c1"]
    conversation = await client.messaging.GetConversation(
        messaging_pb2.ConversationRequest(user_id="bob", conversation_id=cid)
    )
    assert conversation.last_seq == 1
    assert [m.user_id for m in conversation.members] == ["alice", "bob"]


async def test_bad_sends_get_per_item_errors(client: Client) -> None:
    cid = await new_group(client, "alice")
    await sign_up(client, "eve")
    results = await append(
        client,
        send_item("alice", cid, "empty", body=""),
        send_item("alice", cid, "huge", body="x" * 100_001),
        send_item("alice", cid, "max", body="x" * 100_000),
        send_item("alice", 424242, "nowhere"),
        send_item("eve", cid, "intruder"),
    )
    codes = [r.error.code if r.WhichOneof("outcome") == "error" else "ok" for r in results]
    assert codes == ["INVALID_ARGUMENT", "TOO_LARGE", "ok", "NOT_FOUND", "NOT_MEMBER"]
    assert results[2].message.seq == 1


async def test_unknown_conversation_and_non_member_statuses(client: Client) -> None:
    cid = await new_group(client, "alice")
    await sign_up(client, "eve")
    await expect_error(
        client.messaging.History(history(424242)), grpc.StatusCode.NOT_FOUND, ErrorCode.NOT_FOUND
    )
    await expect_error(
        client.messaging.History(history(cid, user="eve")),
        grpc.StatusCode.PERMISSION_DENIED,
        ErrorCode.NOT_MEMBER,
    )
    await expect_error(
        client.messaging.GetMembers(messaging_pb2.ConversationRequest(user_id="eve", conversation_id=cid)),
        grpc.StatusCode.PERMISSION_DENIED,
        ErrorCode.NOT_MEMBER,
    )
    internal = await client.messaging.GetMembers(messaging_pb2.ConversationRequest(conversation_id=cid))
    assert list(internal.user_ids) == ["alice"]
    assert internal.kind == client_pb2.CONVERSATION_KIND_GROUP
    await expect_error(
        client.messaging.UpdateGroup(
            messaging_pb2.UpdateGroupRequest(
                user_id="alice", change=client_pb2.UpdateGroup(conversation_id=cid, rename="t" * 101)
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.INVALID_ARGUMENT,
    )


async def test_history_paging(client: Client) -> None:
    cid = await new_group(client, "alice")
    await append(client, *(send_item("alice", cid, f"m{i}") for i in range(120)))
    newest = await client.messaging.History(history(cid, limit=10, newest_first=True))
    assert [m.seq for m in newest.messages] == list(range(120, 110, -1)) and newest.has_more
    older = await client.messaging.History(
        history(cid, anchor_seq=6, direction=client_pb2.HISTORY_DIRECTION_BEFORE, limit=10)
    )
    assert [m.seq for m in older.messages] == [1, 2, 3, 4, 5] and not older.has_more
    after = await client.messaging.History(
        history(cid, anchor_seq=100, direction=client_pb2.HISTORY_DIRECTION_AFTER, limit=10)
    )
    assert [m.seq for m in after.messages] == list(range(101, 111)) and after.has_more
    clamped = await client.messaging.History(history(cid, limit=500))
    assert [m.seq for m in clamped.messages] == list(range(21, 121)) and clamped.has_more
    default = await client.messaging.History(history(cid))
    assert len(default.messages) == 50


async def test_cursors_unread_read_by_and_resume(client: Client) -> None:
    cid = await new_group(client, "alice", "bob", "carol")
    await append(client, *(send_item("alice", cid, f"m{i}") for i in range(5)))

    def update(user: str, kind: client_pb2.ReceiptKind.ValueType, seq: int) -> messaging_pb2.CursorUpdate:
        return messaging_pb2.CursorUpdate(user_id=user, conversation_id=cid, kind=kind, seq=seq)

    reply = await client.messaging.UpdateCursors(
        messaging_pb2.CursorUpdates(
            updates=[
                update("bob", client_pb2.RECEIPT_KIND_READ, 3),
                update("carol", client_pb2.RECEIPT_KIND_DELIVERED, 4),
                update("bob", client_pb2.RECEIPT_KIND_DELIVERED, 1),
                update("bob", client_pb2.RECEIPT_KIND_UNSPECIFIED, 5),
                update("mallory", client_pb2.RECEIPT_KIND_READ, 5),
            ]
        )
    )
    summary = [(r.delivered_seq, r.read_seq, r.moved, r.error.code) for r in reply.results]
    assert summary[:3] == [(3, 3, True, ""), (4, 0, True, ""), (3, 3, False, "")]
    assert [r.error.code for r in reply.results[3:]] == ["INVALID_ARGUMENT", "NOT_MEMBER"]

    listed = await client.messaging.ListConversations(messaging_pb2.ListConversationsRequest(user_id="bob"))
    [row] = listed.items
    assert (row.unread, row.read_seq, row.last_message.seq) == (2, 3, 5)

    read_by = await client.messaging.ReadBy(
        messaging_pb2.ReadByRequest(user_id="bob", conversation_id=cid, seq=3)
    )
    assert (list(read_by.read_by), list(read_by.delivered_to)) == (["bob"], ["carol"])

    resumed = await client.messaging.Resume(messaging_pb2.ResumeRequest(user_id="carol"))
    [page] = resumed.pages
    assert [m.seq for m in page.messages] == [5] and not page.has_more
    from_device = await client.messaging.Resume(
        messaging_pb2.ResumeRequest(
            user_id="carol",
            resume=client_pb2.Resume(
                cursors=[client_pb2.ConversationCursor(conversation_id=cid, seq=1)], limit_per_conversation=2
            ),
        )
    )
    [page] = from_device.pages
    assert [m.seq for m in page.messages] == [2, 3] and page.has_more


async def test_group_of_500_and_one_too_many(client: Client) -> None:
    invited = [f"user{i:03d}" for i in range(499)]
    await sign_up(client, "owner", *invited, "late", "later")
    conversation = await client.messaging.CreateGroup(
        messaging_pb2.CreateGroupRequest(user_id="owner", title="big", member_ids=invited)
    )
    assert len(conversation.members) == 500
    await expect_error(
        client.messaging.UpdateGroup(
            messaging_pb2.UpdateGroupRequest(
                user_id="owner",
                change=client_pb2.UpdateGroup(
                    conversation_id=conversation.conversation_id,
                    add_members=client_pb2.MemberList(user_ids=["late"]),
                ),
            )
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        ErrorCode.LIMIT_EXCEEDED,
    )
    await expect_error(
        client.messaging.CreateGroup(
            messaging_pb2.CreateGroupRequest(user_id="owner", title="too big", member_ids=[*invited, "late"])
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        ErrorCode.LIMIT_EXCEEDED,
    )
    members = await client.messaging.GetMembers(
        messaging_pb2.ConversationRequest(conversation_id=conversation.conversation_id)
    )
    assert len(members.user_ids) == 500


async def test_group_changes_return_events(client: Client) -> None:
    cid = await new_group(client, "olga", "mia")
    await sign_up(client, "max")

    async def change(actor: str, update: client_pb2.UpdateGroup) -> client_pb2.ConversationEvent:
        update.conversation_id = cid
        reply = await client.messaging.UpdateGroup(
            messaging_pb2.UpdateGroupRequest(user_id=actor, change=update)
        )
        return reply.event

    added = await change("olga", client_pb2.UpdateGroup(add_members=client_pb2.MemberList(user_ids=["max"])))
    assert added.kind == client_pb2.CONVERSATION_EVENT_KIND_MEMBERS_ADDED and list(added.user_ids) == ["max"]
    promoted = await change(
        "olga",
        client_pb2.UpdateGroup(set_role=client_pb2.MemberRole(user_id="mia", role=client_pb2.ROLE_ADMIN)),
    )
    assert {m.user_id: m.role for m in promoted.conversation.members}["mia"] == client_pb2.ROLE_ADMIN
    await expect_error(
        client.messaging.UpdateGroup(
            messaging_pb2.UpdateGroupRequest(
                user_id="max", change=client_pb2.UpdateGroup(conversation_id=cid, remove_member="mia")
            )
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        ErrorCode.PERMISSION_DENIED,
    )
    left = await change("max", client_pb2.UpdateGroup(remove_member="max"))
    assert left.kind == client_pb2.CONVERSATION_EVENT_KIND_MEMBER_REMOVED
    assert [m.user_id for m in left.conversation.members] == ["mia", "olga"]


async def test_direct_contacts_and_presence_lists(client: Client) -> None:
    await sign_up(client, "alice", "bob", "carol")
    first = await client.messaging.OpenDirect(messaging_pb2.OpenDirectRequest(user_id="alice", peer_id="bob"))
    second = await client.messaging.OpenDirect(
        messaging_pb2.OpenDirectRequest(user_id="bob", peer_id="alice")
    )
    assert first.conversation_id == second.conversation_id
    assert first.kind == client_pb2.CONVERSATION_KIND_DIRECT
    contacts = await client.accounts.AddContact(
        messaging_pb2.ContactChange(user_id="carol", contact_id="alice")
    )
    assert list(contacts.user_ids) == ["alice"]
    await client.accounts.AddContact(messaging_pb2.ContactChange(user_id="alice", contact_id="carol"))
    audience = await client.accounts.PresenceAudience(messaging_pb2.UserRequest(user_id="alice"))
    assert list(audience.user_ids) == ["bob", "carol"]  # direct peer, mutual contact
    watch = await client.accounts.PresenceWatchList(messaging_pb2.UserRequest(user_id="carol"))
    assert list(watch.user_ids) == ["alice"]
    lists = await client.accounts.PresenceWatchLists(messaging_pb2.UserList(user_ids=["carol", "alice"]))
    assert [(e.user_id, list(e.user_ids)) for e in lists.lists] == [
        ("carol", ["alice"]),
        ("alice", ["bob", "carol"]),
    ]
    await expect_error(
        client.messaging.OpenDirect(messaging_pb2.OpenDirectRequest(user_id="alice", peer_id="ghost")),
        grpc.StatusCode.NOT_FOUND,
        ErrorCode.NOT_FOUND,
    )


class BrokenStore(MemoryStore):
    async def get_user(self, user_id: str) -> User | None:
        raise RuntimeError("disk on fire at /secret/path")


async def test_unexpected_errors_become_internal_without_details(tmp_path: Path) -> None:
    service = await start_messaging(cheap_config(tmp_path, store="memory"), store=BrokenStore())
    channel = insecure_channel(service.target)
    try:
        stub = messaging_pb2_grpc.AccountsStub(channel)
        error = await expect_error(
            stub.GetProfile(messaging_pb2.UserRequest(user_id="alice")),
            grpc.StatusCode.INTERNAL,
            ErrorCode.INTERNAL,
        )
        assert isinstance(error.__cause__, aio.AioRpcError)
        assert "secret" not in (error.__cause__.details() or "")
        local = await expect_error(
            service.accounts.GetProfile(messaging_pb2.UserRequest(user_id="alice")),
            grpc.StatusCode.INTERNAL,
            ErrorCode.INTERNAL,
        )
        assert "secret" not in local.message
    finally:
        await channel.close()
        await service.stop(grace=5.0)


def resume_request(user: str, cid: int = 0, seq: int = 0, limit: int = 0) -> messaging_pb2.ResumeRequest:
    cursors = [client_pb2.ConversationCursor(conversation_id=cid, seq=seq)] if cid else []
    return messaging_pb2.ResumeRequest(
        user_id=user, resume=client_pb2.Resume(cursors=cursors, limit_per_conversation=limit)
    )


async def test_resume_many_answers_each_as_resume_alone_in_order(client: Client) -> None:
    cid = await new_group(client, "alice", "bob", "carol")
    await sign_up(client, "dave")
    made = await client.messaging.CreateGroup(
        messaging_pb2.CreateGroupRequest(user_id="dave", title="two", member_ids=["carol"])
    )
    other = made.conversation_id
    await append(client, *(send_item("alice", cid, f"m{i}") for i in range(5)))
    await append(client, *(send_item("dave", other, f"d{i}") for i in range(3)))
    requests = [
        resume_request("carol"),
        resume_request("carol", cid, 1, 2),
        resume_request("bob", cid, 5),  # nothing missed
        resume_request("mallory"),  # no such user: nothing to resume
        resume_request("dave", other, 1),
    ]
    batch = await client.messaging.ResumeMany(messaging_pb2.ResumeRequests(requests=requests))
    alone = [await client.messaging.Resume(r) for r in requests]
    assert [r.WhichOneof("outcome") for r in batch.results] == ["reply"] * len(requests)
    assert [r.reply for r in batch.results] == alone
    assert [[m.seq for m in p.messages] for p in batch.results[0].reply.pages] == [[1, 2, 3], [1, 2, 3, 4, 5]]
    assert [[m.seq for m in p.messages] for p in batch.results[1].reply.pages] == [[1, 2], [2, 3]]
    assert not batch.results[2].reply.pages and not batch.results[3].reply.pages
    assert [m.body for m in batch.results[4].reply.pages[0].messages] == ["hi", "hi"]


async def test_resume_many_leaves_out_what_passes_its_byte_budget(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the batch's budget the rest come back unanswered (asked again); the first always
    comes back, however large."""
    from messaging import grpc_servicer

    cid = await new_group(client, "alice", "bob")
    await append(client, *(send_item("alice", cid, f"m{i}", body="x" * 1000) for i in range(3)))
    monkeypatch.setattr(grpc_servicer, "MAX_RESUME_BATCH_REPLY_BYTES", 2500)
    requests = [resume_request("bob", cid, 1), resume_request("bob", cid, 2), resume_request("alice", cid, 0)]
    batch = await client.messaging.ResumeMany(messaging_pb2.ResumeRequests(requests=requests))
    assert [[m.seq for m in r.reply.pages[0].messages] for r in batch.results] == [[2, 3]]
    monkeypatch.setattr(grpc_servicer, "MAX_RESUME_BATCH_REPLY_BYTES", 100)
    batch = await client.messaging.ResumeMany(messaging_pb2.ResumeRequests(requests=requests))
    assert [[m.seq for m in r.reply.pages[0].messages] for r in batch.results] == [[2, 3]]
    rest = await client.messaging.ResumeMany(messaging_pb2.ResumeRequests(requests=requests[1:]))
    assert [[m.seq for m in r.reply.pages[0].messages] for r in rest.results] == [[3]]


async def test_resume_many_refuses_more_resumes_than_a_batch_may_carry(client: Client) -> None:
    """The bound holds where the work is done: a caller other than our edge gets no more."""
    from kernel.limits import MAX_RESUME_BATCH

    await sign_up(client, "bob")
    too_many = messaging_pb2.ResumeRequests(requests=[resume_request("bob")] * (MAX_RESUME_BATCH + 1))
    await expect_error(
        client.messaging.ResumeMany(too_many), grpc.StatusCode.INVALID_ARGUMENT, ErrorCode.INVALID_ARGUMENT
    )
    at_most = messaging_pb2.ResumeRequests(requests=[resume_request("bob")] * MAX_RESUME_BATCH)
    assert len((await client.messaging.ResumeMany(at_most)).results) == MAX_RESUME_BATCH


class ResumeBrokenFor(MemoryStore):
    """A store whose resume read fails for one user only."""

    async def missed_messages(self, user_id: str, *args: Any, **kwargs: Any) -> Any:
        if user_id == "mallory":
            raise RuntimeError("disk on fire at /secret/path")
        return await super().missed_messages(user_id, *args, **kwargs)


@pytest.mark.parametrize("over_grpc", [True, False])
async def test_a_failing_resume_fails_alone_in_its_batch(tmp_path: Path, over_grpc: bool) -> None:
    service = await start_messaging(cheap_config(tmp_path, store="memory"), store=ResumeBrokenFor())
    channel = insecure_channel(service.target)
    api = messaging_pb2_grpc.MessagingStub(channel) if over_grpc else service.messaging
    client = Client(service, service.accounts, api, over_grpc)
    try:
        cid = await new_group(client, "alice", "bob")
        await append(client, send_item("alice", cid, "m1"))
        requests = [resume_request("bob"), resume_request("mallory"), resume_request("bob", cid, 0)]
        batch = await api.ResumeMany(messaging_pb2.ResumeRequests(requests=requests))
        assert [r.WhichOneof("outcome") for r in batch.results] == ["reply", "error", "reply"]
        assert batch.results[1].error.code == "INTERNAL"
        assert "secret" not in batch.results[1].error.message
        assert [m.seq for m in batch.results[2].reply.pages[0].messages] == [1]
    finally:
        await channel.close()
        await service.stop(grace=5.0)
