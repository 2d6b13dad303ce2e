"""Fencing through the real Messaging gRPC servicer on SQLite: Seal raises a partition's epoch
and names the partitions where the caller is stale; an Append item older than its partition's
seal fails STALE_OWNER (retryable) alone while its batch neighbours are stored."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc
import pytest

from kernel.clock import ManualClock
from kernel.errors import ErrorCode, StaleOwner, is_retryable
from kernel.ids import SnowflakeGenerator
from kernel.partitions import DEFAULT_PARTITIONS, partition_of
from messaging.appends import SendItem
from messaging.conversations import Conversations
from messaging.membership import MemberCache
from messaging.messages import Messages
from messaging.model import AppendOutcome, NewMessage, User
from messaging.store.sqlite import SqliteStore
from protos import messaging_pb2
from tests.messaging.conftest import Client
from tests.messaging.test_grpc_servicer import append, expect_error, history, new_group, send_item


def sealing(*pairs: tuple[int, int], partition_count: int = DEFAULT_PARTITIONS) -> messaging_pb2.SealRequest:
    return messaging_pb2.SealRequest(
        partitions=[messaging_pb2.PartitionEpoch(partition=p, epoch=e) for p, e in pairs],
        partition_count=partition_count,
    )


def epoch_item(sender: str, cid: int, client_msg_id: str, epoch: int) -> messaging_pb2.AppendItem:
    item = send_item(sender, cid, client_msg_id)
    item.owner_epoch = epoch
    return item


async def test_seal_reports_only_the_partitions_sealed_higher(client: Client) -> None:
    assert list((await client.messaging.Seal(sealing((3, 2), (4, 5)))).refused) == []
    reply = await client.messaging.Seal(sealing((3, 1), (4, 5), (5, 1)))
    assert [(p.partition, p.epoch) for p in reply.refused] == [(3, 2)]


async def test_seal_of_a_partition_past_p_is_invalid(client: Client) -> None:
    await expect_error(
        client.messaging.Seal(sealing((DEFAULT_PARTITIONS, 1))),
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.INVALID_ARGUMENT,
    )


@pytest.mark.parametrize("partition_count", [DEFAULT_PARTITIONS // 2, 0])
async def test_a_seal_under_another_p_is_refused_and_seals_nothing(
    client: Client, partition_count: int
) -> None:
    """Review finding 6: a router counting partitions differently (or not saying) would seal
    and write other conversations' partitions than it believes: refused, nothing sealed."""
    error = await expect_error(
        client.messaging.Seal(sealing((3, 2), partition_count=partition_count)),
        grpc.StatusCode.FAILED_PRECONDITION,
        ErrorCode.PARTITION_MISMATCH,
    )
    assert "partitions" in error.message and not is_retryable(ErrorCode.PARTITION_MISMATCH)
    # Nothing was sealed: a seal at epoch 1 (below the refused 2) is still accepted.
    assert list((await client.messaging.Seal(sealing((3, 1)))).refused) == []


async def test_a_stale_item_fails_alone_and_stores_nothing(client: Client) -> None:
    fenced = await new_group(client, "alice", "bob")
    other = await new_group(client, "carol", "dave")
    assert partition_of(fenced, DEFAULT_PARTITIONS) != partition_of(other, DEFAULT_PARTITIONS)
    await client.messaging.Seal(sealing((partition_of(fenced, DEFAULT_PARTITIONS), 2)))
    results = await append(
        client,
        epoch_item("alice", fenced, "new-owner", 2),
        epoch_item("bob", fenced, "old-owner", 1),
        epoch_item("carol", other, "elsewhere", 0),
        epoch_item("alice", fenced, "unfenced", 0),
    )
    assert [r.WhichOneof("outcome") for r in results] == ["message", "error", "message", "error"]
    assert {results[1].error.code, results[3].error.code} == {ErrorCode.STALE_OWNER.value}
    assert is_retryable(ErrorCode.STALE_OWNER)
    assert (results[0].message.seq, results[2].message.seq) == (1, 1)
    page = await client.messaging.History(history(fenced))
    assert [m.client_msg_id for m in page.messages] == ["new-owner"]


class InFlightStore(SqliteStore):
    """Counts the append calls in flight at once."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.in_flight = self.most_in_flight = 0

    async def append(self, messages: Sequence[NewMessage]) -> list[AppendOutcome]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await super().append(messages)
        finally:
            self.in_flight -= 1


async def test_a_batch_with_stale_items_is_retried_all_at_once(tmp_path: Path) -> None:
    """Messages isolates the stale items of a router's batch without a commit per item: the
    retries go to the store together (one group commit), in order, and only the stale fail."""
    store = InFlightStore(tmp_path / "messages.db")
    await store.open()
    try:
        clock = ManualClock()
        ids = SnowflakeGenerator(1, clock)
        members = MemberCache(store, clock, max_size=100, ttl_s=60.0)
        messages = Messages(store, store, ids, clock, members)
        for user_id in ("alice", "bob"):
            await store.create_user(User(user_id, user_id, "x", 0))
        conversations = Conversations(store, ids, clock, members)
        cid = (await conversations.create_group("alice", "g", ["bob"])).details.conversation.conversation_id
        await messages.seal([(partition_of(cid, DEFAULT_PARTITIONS), 5)], DEFAULT_PARTITIONS)
        epochs = [4 if i % 2 == 0 else 5 for i in range(20)]
        items = [
            SendItem("alice", "d", cid, f"k{i}", "text/plain", "hi", b"", e) for i, e in enumerate(epochs)
        ]
        results = await messages.append(items)
        assert [isinstance(r, StaleOwner) for r in results] == [e == 4 for e in epochs]
        assert [r.message.seq for r in results if isinstance(r, AppendOutcome)] == list(range(1, 11))
        assert store.most_in_flight == len(items)  # every retry submitted before any settled
    finally:
        await store.close()


async def test_a_stale_owners_deletion_erases_nothing_and_the_new_owners_does(client: Client) -> None:
    """A deletion is a write to the conversation's log: fenced by its epoch like a message."""
    fenced = await new_group(client, "alice", "bob")
    (sent,) = await append(client, epoch_item("alice", fenced, "m1", 1))
    await client.messaging.Seal(sealing((partition_of(fenced, DEFAULT_PARTITIONS), 2)))

    def deleting(epoch: int) -> messaging_pb2.AppendItem:
        item = epoch_item("alice", fenced, "", epoch)
        item.message.ClearField("body")
        item.delete_seq = sent.message.seq
        return item

    (stale,) = await append(client, deleting(1))
    assert stale.error.code == ErrorCode.STALE_OWNER.value
    page = await client.messaging.History(history(fenced))
    assert [(m.seq, m.deleted, m.body) for m in page.messages] == [(1, False, sent.message.body)]
    (fresh,) = await append(client, deleting(2))
    assert (fresh.message.seq, fresh.message.deletes_seq) == (2, 1)
    page = await client.messaging.History(history(fenced))
    assert [(m.seq, m.deleted, m.body) for m in page.messages] == [(1, True, ""), (2, False, "")]
