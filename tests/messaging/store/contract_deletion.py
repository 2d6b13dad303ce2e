"""The MessageLog contract for deletions (messaging/deletion.py): a deletion entry is stored at
a seq of its own, erases the message it names (body, payload, media, retries included) while
its seq stays, and is stored once however often it is repeated. Run on every backend."""

from __future__ import annotations

from dataclasses import replace

from kernel.partitions import DEFAULT_PARTITIONS, partition_of
from messaging.deletion import deletion_key
from messaging.model import NewMessage
from messaging.store.interface import MessageStore
from tests.messaging.store.conftest import LateWrite
from tests.messaging.store.contract import make_group, message, seqs


def deletion_of(conversation_id: int, seq: int, sender: str = "alice", *, epoch: int = 0) -> NewMessage:
    """As messages.py builds one: no content, the dedupe key of (conversation, seq)."""
    shell = message(conversation_id, sender, deletion_key(conversation_id, seq), body="", epoch=epoch)
    return replace(shell, content_type="", payload=b"", deletes_seq=seq)


class DeletionContract:
    async def test_a_deletion_takes_the_next_seq_and_erases_its_message(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice", "bob")
        photo = replace(message(1, "alice", "photo"), media=b"\x0a\x03key")
        await store.append([message(1, "alice", "first"), photo, message(1, "bob", "third")])
        (outcome,) = await store.append([deletion_of(1, 2)])
        assert (outcome.message.seq, outcome.message.deletes_seq, outcome.duplicate) == (4, 2, False)
        assert not outcome.message.deleted
        page = await store.history(1, anchor_seq=0, direction="before", limit=10, newest_first=False)
        assert seqs(page) == [1, 2, 3, 4]
        shell = page[1]
        assert (shell.body, shell.payload, shell.media, shell.content_type) == ("", b"", b"", "")
        assert shell.deleted and (shell.sender_id, shell.client_msg_id) == ("alice", "photo")
        assert shell.deleted_by_seq == 4  # it names its entry: a repeat is answered with it
        assert [m.body for m in (page[0], page[2])] == ["hi", "hi"]  # the others are untouched
        assert page[3].deletes_seq == 2 and page[3].sender_id == "alice"
        assert await store.last_seq(1) == 4

    async def test_a_retry_of_the_deleted_send_gets_the_erased_message(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice")
        await store.append([message(1, "alice", "secret", body="do not keep me")])
        await store.append([deletion_of(1, 1)])
        (retry,) = await store.append([message(1, "alice", "secret", body="do not keep me")])
        assert retry.duplicate and retry.message.seq == 1
        assert retry.message.deleted and retry.message.body == ""
        assert await store.last_seq(1) == 2

    async def test_deleting_twice_stores_one_deletion(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice")
        await store.append([message(1, "alice", "m1")])
        (first,) = await store.append([deletion_of(1, 1)])
        again = await store.append([deletion_of(1, 1), deletion_of(1, 1)])
        assert [(o.message.seq, o.duplicate) for o in again] == [(2, True), (2, True)]
        assert again[0].message.message_id == first.message.message_id
        assert await store.last_seq(1) == 2

    async def test_a_resuming_device_gets_the_deletion_entry(self, store: MessageStore) -> None:
        await make_group(store, 1, "alice", "bob")
        await store.append([message(1, "alice", "m1"), message(1, "alice", "m2")])
        await store.append([deletion_of(1, 1)])
        missed = await store.missed_messages("bob", {1: 2}, limit=10, max_conversations=10)
        assert [(cid, [(m.seq, m.deletes_seq) for m in rows]) for cid, rows in missed] == [(1, [(3, 1)])]

    async def test_a_deletion_erases_the_row_readers_see(
        self, store: MessageStore, late_write: LateWrite
    ) -> None:
        """Owner 2 stored m2 at seq 2 over a stale owner's late row there: deleting seq 2
        erases m2, the message every reader sees, and the stale row stays hidden."""
        await make_group(store, 1, "alice", "bob")
        await store.append([message(1, "alice", "m1", epoch=1)])
        await store.seal([(partition_of(1, DEFAULT_PARTITIONS), 2)])
        await store.append([message(1, "alice", "m2", body="visible", epoch=2)])
        await late_write(message(1, "alice", "late-2", body="stale", epoch=1), 2)
        (outcome,) = await store.append([deletion_of(1, 2, epoch=2)])
        assert (outcome.message.seq, outcome.duplicate) == (3, False)
        page = await store.history(1, anchor_seq=0, direction="before", limit=10, newest_first=False)
        assert [(m.seq, m.client_msg_id, m.body, m.deleted) for m in page] == [
            (1, "m1", "hi", False),
            (2, "m2", "", True),
            (3, deletion_key(1, 2), "", False),
        ]
