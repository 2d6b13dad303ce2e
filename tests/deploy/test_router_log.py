"""A router that appends to the Cassandra log itself (deploy/router_log.py), on the real
Cassandra 1.2: messaging over gRPC in this process, its Append never called; the router's own
session stores, numbers and dedupes; messaging reads the same rows back (history, resume, the
conversation list's last seq raised over RecordAppends); non-members and a member removed
through the router are refused NOT_MEMBER."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from deploy.local_servers.cassandra import DATACENTER
from deploy.router_log import RouterLog, open_router_log
from kernel.blob_store import BlobInfo
from kernel.clock import SystemClock
from kernel.grpc_boundary import call
from kernel.grpc_server import internal_channel
from kernel.media_urls import SignedUrls, new_key
from kernel.messaging_api import AccountsApi, MessagingApi
from kernel.partitions import DEFAULT_PARTITIONS, partition_of
from media import LocalBlobStore, start_blob_server
from messaging import start_messaging
from messaging.config import CassandraOptions, MessagingConfig
from messaging.owner_append import OwnerAppend
from messaging.server import MessagingService
from protos import client_pb2, messaging_pb2, messaging_pb2_grpc
from router import MemoryPushNotifier, RouterConfig, RouterService, start_router
from tests.media.test_blob_store_contract import chunks
from tests.messaging.store.cassandra_server import cassandra_options, empty_tables
from tests.router.edge_client import FakeEdge, text_frame

__all__ = ["cassandra_options"]


class NoAppend:
    """Messaging's API as the router sees it, except that Append fails the test."""

    def __init__(self, stub: MessagingApi) -> None:
        self._stub = stub

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stub, name)

    def Append(self, request: messaging_pb2.AppendRequest, *, timeout: float | None = None) -> Awaitable[Any]:
        raise AssertionError("the router called messaging's Append")


@dataclass
class Node:
    messaging: MessagingService
    accounts: AccountsApi
    api: MessagingApi
    router: RouterService
    log: RouterLog
    cassandra_hosts: str
    keyspace: str


@pytest.fixture
async def node(cassandra_options: CassandraOptions, tmp_path: Path) -> AsyncIterator[Node]:
    await empty_tables(cassandra_options)
    ((host, port),) = cassandra_options.hosts
    config = MessagingConfig(
        data_dir=tmp_path, log_backend="cassandra", cassandra_hosts=f"{host}:{port}",
        cassandra_keyspace=cassandra_options.keyspace, cassandra_protocol_version=1,
        cassandra_local_dc=DATACENTER, password_hash_time_cost=1, password_hash_memory_cost=8,
        password_hash_parallelism=1,
    )  # fmt: skip
    messaging = await start_messaging(config)
    channel = internal_channel(messaging.target)
    log: RouterLog | None = None
    router: RouterService | None = None
    try:
        log = await open_router_log(dataclasses.replace(config, worker_id=2), messaging.target, SystemClock())
        assert log is not None
        api: MessagingApi = messaging_pb2_grpc.MessagingStub(channel)
        accounts: AccountsApi = messaging_pb2_grpc.AccountsStub(channel)
        router = await start_router(
            RouterConfig(messaging_target=messaging.target),
            push=MemoryPushNotifier(),
            local_messaging=(accounts, cast(MessagingApi, NoAppend(api))),
            log_writer=log.writer,
        )
        yield Node(messaging, accounts, api, router, log, f"{host}:{port}", cassandra_options.keyspace)
    finally:
        if router is not None:
            await router.stop()
        if log is not None:
            await log.close()
        await channel.close()
        await messaging.stop()


async def group(node: Node, owner: str, *members: str) -> int:
    for user in (owner, *members):
        await call(node.accounts.SignUp(messaging_pb2.SignUpRequest(user_id=user, password="password1")))
    request = messaging_pb2.CreateGroupRequest(user_id=owner, title="g", member_ids=list(members))
    return int((await call(node.api.CreateGroup(request))).conversation_id)


async def test_the_router_appends_to_cassandra_itself_and_messaging_reads_it_back(node: Node) -> None:
    cid = await group(node, "alice", "bob")
    edge = await FakeEdge(node.router.target, "edge-1").connect()
    try:
        edge.open(1, "alice", "phone")
        edge.open(2, "bob", "phone")
        edge.send_frames(1, *(text_frame(cid, f"m{i}", f"hello {i}", ref=i + 1) for i in range(5)))
        sent = await edge.wait_kind(1, "sent", 5)
        edge.send_frames(1, text_frame(cid, "m2", "a retry", ref=9))  # the same client_msg_id
        retry = (await edge.wait_kind(1, "sent", 6))[-1]
        received = await edge.wait_kind(2, "message", 5)
    finally:
        await edge.abort()
    assert [f.sent.seq for f in sent] == [1, 2, 3, 4, 5]
    assert (retry.sent.seq, retry.sent.duplicate) == (3, True)
    assert [f.message.seq for f in received] == [1, 2, 3, 4, 5]
    assert isinstance(node.log.writer, OwnerAppend) and node.log.writer.calls >= 1
    # Messaging, which wrote none of it, reads it all back from Cassandra.
    query = client_pb2.FetchHistory(
        conversation_id=cid, direction=client_pb2.HISTORY_DIRECTION_AFTER, limit=50
    )
    page = await call(node.api.History(messaging_pb2.HistoryRequest(user_id="bob", query=query)))
    assert [(m.seq, m.body) for m in page.messages] == [(i + 1, f"hello {i}") for i in range(5)]
    listed = await call(node.api.ListConversations(messaging_pb2.ListConversationsRequest(user_id="bob")))
    (row,) = listed.items
    assert (row.conversation.last_seq, row.unread) == (5, 5)  # the directory's end, raised before the acks
    resume = client_pb2.Resume(cursors=[client_pb2.ConversationCursor(conversation_id=cid, seq=2)])
    missed = await call(node.api.Resume(messaging_pb2.ResumeRequest(user_id="bob", resume=resume)))
    assert [m.seq for p in missed.pages for m in p.messages] == [3, 4, 5]


async def test_the_owner_refuses_non_members_and_a_member_it_removed(node: Node) -> None:
    cid = await group(node, "alice", "bob", "carol")
    await call(node.accounts.SignUp(messaging_pb2.SignUpRequest(user_id="mallory", password="password1")))
    edge = await FakeEdge(node.router.target, "edge-1").connect()
    try:
        for session, user in enumerate(("alice", "bob", "mallory"), start=1):
            edge.open(session, user, "phone")
        edge.send_frames(2, text_frame(cid, "b1", "before", ref=1))  # caches the members
        assert (await edge.wait_ref(2, 1)).WhichOneof("kind") == "sent"
        edge.send_frames(3, text_frame(cid, "x1", "let me in", ref=2))
        refused = await edge.wait_ref(3, 2)
        assert refused.error.code == "NOT_MEMBER"
        change = client_pb2.UpdateGroup(conversation_id=cid, remove_member="bob")
        edge.send_frames(1, client_pb2.ClientFrame(ref=3, update_group=change))
        assert (await edge.wait_ref(1, 3)).WhichOneof("kind") == "conversation"
        edge.send_frames(2, text_frame(cid, "b2", "after", ref=4))  # after the removal's ack
        late = await edge.wait_ref(2, 4)
        assert late.error.code == "NOT_MEMBER"
    finally:
        await edge.abort()
    query = client_pb2.FetchHistory(
        conversation_id=cid, direction=client_pb2.HISTORY_DIRECTION_AFTER, limit=50
    )
    page = await call(node.api.History(messaging_pb2.HistoryRequest(user_id="alice", query=query)))
    assert [m.body for m in page.messages] == ["before"]


def append_request(cid: int, client_msg_id: str, epoch: int) -> messaging_pb2.AppendRequest:
    request = messaging_pb2.AppendRequest()
    request.items.add(
        sender_id="alice", sender_device="phone", owner_epoch=epoch,
        message=client_pb2.SendMessage(conversation_id=cid, client_msg_id=client_msg_id, body="hi"),
    )  # fmt: skip
    return request


async def test_two_router_writers_a_stale_one_is_refused_once_the_new_owner_sealed(
    node: Node, tmp_path: Path
) -> None:
    """Two router processes' writers on one keyspace, as around a handoff: the old owner
    (epoch 1) wrote, the new one sealed at 2 (through messaging, as a router's claim does) and
    numbers on after it; the old owner's late item is refused STALE_OWNER and never seen."""
    cid = await group(node, "alice", "bob")
    partition = partition_of(cid, DEFAULT_PARTITIONS)
    old = node.log.writer
    config = MessagingConfig(
        data_dir=tmp_path, log_backend="cassandra", cassandra_hosts=node.cassandra_hosts,
        cassandra_keyspace=node.keyspace, cassandra_protocol_version=1, cassandra_local_dc=DATACENTER,
        worker_id=3,
    )  # fmt: skip
    new = await open_router_log(config, node.messaging.target, SystemClock())
    assert new is not None
    try:
        seal = messaging_pb2.SealRequest(partition_count=DEFAULT_PARTITIONS)
        seal.partitions.add(partition=partition, epoch=1)
        await call(node.api.Seal(seal))
        (first,) = (await call(old(append_request(cid, "m1", 1)))).results
        assert first.message.seq == 1
        seal.partitions[0].epoch = 2
        assert not (await call(node.api.Seal(seal))).refused
        (second,) = (await call(new.writer(append_request(cid, "m2", 2)))).results
        assert second.message.seq == 2  # numbered on from what the old owner stored
        (late,) = (await call(old(append_request(cid, "late", 1)))).results
        assert late.error.code == "STALE_OWNER" and late.error.retryable
        (retry,) = (await call(new.writer(append_request(cid, "m1", 2)))).results
        assert (retry.duplicate, retry.message.seq) == (True, 1)  # a retry through the new owner
    finally:
        await new.close()
    query = client_pb2.FetchHistory(
        conversation_id=cid, direction=client_pb2.HISTORY_DIRECTION_AFTER, limit=50
    )
    page = await call(node.api.History(messaging_pb2.HistoryRequest(user_id="bob", query=query)))
    assert [(m.seq, m.client_msg_id) for m in page.messages] == [(1, "m1"), (2, "m2")]


async def test_a_deletion_the_router_stores_removes_the_object_through_the_blob_server(
    node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The router process's writer, as deploy/cluster_router.py opens it from the environment:
    a deleted photo's object is removed through the blob server's internal delete."""
    cid = await group(node, "alice", "bob")
    store = LocalBlobStore(tmp_path / "media", SignedUrls("http://unused", "token-secret"))
    blobs = await start_blob_server(store, "token-secret", "127.0.0.1", 0, internal_secret="internal")
    key = new_key(cid, "alice")
    await store.put(BlobInfo(key, "image/png", 3), chunks(b"png"))
    monkeypatch.setenv("HUBBUB_MEDIA_INTERNAL_URL", f"http://127.0.0.1:{blobs.port}")
    config = MessagingConfig(
        data_dir=tmp_path, log_backend="cassandra", cassandra_hosts=node.cassandra_hosts,
        cassandra_keyspace=node.keyspace, cassandra_protocol_version=1, cassandra_local_dc=DATACENTER,
        worker_id=3,
    )  # fmt: skip
    writer = await open_router_log(config, node.messaging.target, SystemClock(), internal_secret="internal")
    assert writer is not None
    try:
        photo = append_request(cid, "photo-1", 0)
        photo.items[0].message.media.CopyFrom(
            client_pb2.MediaRef(key=key, content_type="image/png", size_bytes=3)
        )
        (sent,) = (await call(writer.writer(photo))).results
        assert sent.message.seq == 1, sent
        deletion = messaging_pb2.AppendRequest()
        deletion.items.add(sender_id="alice", sender_device="phone", delete_seq=1)
        deletion.items[0].message.conversation_id = cid
        (deleted,) = (await call(writer.writer(deletion))).results
        assert deleted.message.deletes_seq == 1, deleted
        assert await store.head(key) is None  # removed before the deletion was answered
    finally:
        await writer.close()
        await blobs.stop()
