"""The deletion rules (messaging/deletion.py) and the removal of a deleted attachment's object
(messaging/erased_media.py), without a server (the memory store where a log is read)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from kernel.clock import ManualClock
from kernel.errors import ErrorCode, HubbubError
from kernel.ids import SnowflakeGenerator
from messaging import erased_media, rules
from messaging.appends import SendItem
from messaging.deletion import check_deletion, deletion_key, erased, is_entry_of
from messaging.erased_media import ErasedMedia
from messaging.media_guard import MediaGuard
from messaging.messages import Messages
from messaging.model import AppendOutcome, NewMessage, StoredMessage
from messaging.store.memory import MemoryStore
from protos.client_pb2 import MediaRef
from tests.messaging.conftest import build_services

PHOTO = MediaRef(key="7/alice/abc", content_type="image/png", size_bytes=3).SerializeToString()


def stored(seq: int = 3, sender: str = "alice", *, deletes_seq: int = 0, media: bytes = b"") -> StoredMessage:
    return StoredMessage(
        7, seq, 100 + seq, sender, "phone", f"c{seq}", "text/plain", "hi", b"p", 1, media, deletes_seq
    )


@pytest.mark.parametrize(
    ("target", "seq", "user", "code"),
    [
        (None, 3, "alice", ErrorCode.NOT_FOUND),
        (stored(2), 3, "alice", ErrorCode.NOT_FOUND),  # the read found the next one, not seq 3
        (stored(3, deletes_seq=1), 3, "alice", ErrorCode.INVALID_ARGUMENT),
        (stored(3), 3, "bob", ErrorCode.PERMISSION_DENIED),
    ],
)
def test_who_may_delete_what(target: StoredMessage | None, seq: int, user: str, code: ErrorCode) -> None:
    with pytest.raises(HubbubError) as refused:
        check_deletion(target, seq, user)
    assert refused.value.code is code


def test_the_sender_may_delete_and_again_once_it_is_erased() -> None:
    check_deletion(stored(3), 3, "alice")
    check_deletion(erased(stored(3), 5), 3, "alice")  # a repeat: answered by the dedupe key


def test_an_erased_message_keeps_its_place_and_nothing_else() -> None:
    shell = erased(stored(3, media=PHOTO), 5)
    assert (shell.seq, shell.message_id, shell.sender_id, shell.client_msg_id) == (3, 103, "alice", "c3")
    assert (shell.body, shell.payload, shell.media, shell.content_type) == ("", b"", b"", "")
    assert shell.deleted and shell.deleted_by_seq == 5 and not stored(3).deleted
    assert not stored(4, deletes_seq=3).deleted  # an entry is not a deleted message


def test_an_entry_counts_only_if_it_names_the_deleted_message() -> None:
    shell = erased(stored(3), 5)
    assert is_entry_of(stored(5, deletes_seq=3), shell)
    assert not is_entry_of(None, shell)
    assert not is_entry_of(stored(5), shell)  # the entry was lost and seq 5 went to a message
    assert not is_entry_of(stored(5, deletes_seq=4), shell)


def test_the_deletion_key_is_one_clients_cannot_send() -> None:
    key = deletion_key(7, 3)
    assert key != deletion_key(7, 4) and key != deletion_key(8, 3)
    with pytest.raises(HubbubError) as refused:
        rules.validate_send(key, "text/plain", "hi", b"")
    assert refused.value.code is ErrorCode.INVALID_ARGUMENT


class Blobs:
    def __init__(self, *, fail: bool = False) -> None:
        self.deleted: list[str] = []
        self.fail = fail

    async def delete(self, key: str) -> bool:
        if self.fail:
            raise OSError("the store is down")
        self.deleted.append(key)
        return True


async def test_the_object_of_a_deleted_attachment_is_removed() -> None:
    blobs = Blobs()
    erasing = ErasedMedia(blobs, MemoryStore())
    await erasing.remove(stored(3, media=PHOTO))
    await erasing.remove(stored(4))  # no attachment: nothing to remove
    await erasing.remove(stored(5, media=b"\xff\xff"))  # unreadable: logged, left
    assert blobs.deleted == ["7/alice/abc"]


async def test_a_failing_blob_store_does_not_undo_the_deletion() -> None:
    await ErasedMedia(Blobs(fail=True), MemoryStore()).remove(stored(3, media=PHOTO))  # logged, not raised


async def test_an_upload_attached_twice_stays_until_both_messages_are_deleted() -> None:
    services = build_services(MemoryStore())
    await services.users("alice", "bob")
    created = await services.conversations.create_group("alice", "g", ["bob"])
    cid = created.details.conversation.conversation_id
    blobs = Blobs()
    ids, clock = SnowflakeGenerator(2, services.clock), services.clock
    messages = Messages(services.store, services.store, ids, clock, services.members, blobs=blobs)
    photo = MediaRef(key=f"{cid}/alice/abc", content_type="image/png", size_bytes=3).SerializeToString()

    async def append(item: SendItem) -> AppendOutcome:
        (result,) = await messages.append([item])
        assert isinstance(result, AppendOutcome), result
        return result

    first = await append(SendItem("alice", "phone", cid, "p1", "", "", b"", media=photo))
    second = await append(SendItem("alice", "phone", cid, "p2", "", "", b"", media=photo))
    await append(SendItem("alice", "phone", cid, "", "", "", b"", delete_seq=first.message.seq))
    assert blobs.deleted == []  # the second message still shows the photo
    await append(SendItem("alice", "phone", cid, "", "", "", b"", delete_seq=second.message.seq))
    assert blobs.deleted == [f"{cid}/alice/abc"]


def ok(result: object) -> AppendOutcome:
    assert isinstance(result, AppendOutcome), result
    return result


class HangingBlobs(Blobs):
    async def delete(self, key: str) -> bool:
        await asyncio.Event().wait()  # an object store that never answers
        raise AssertionError("never answered")


async def test_a_delete_cut_short_by_the_bound_leaves_its_upload_unattachable() -> None:
    """Once the delete was asked the object may be gone: a removal given up by remove_all's bound
    must not let new sends attach it (they would be acked with a file that is not there)."""
    guard = MediaGuard(ManualClock(0))  # the message was sent at 1 ms: its receipts still live
    erasing = ErasedMedia(HangingBlobs(), MemoryStore(), guard=guard, timeout_s=0.05)
    await erasing.remove_all([stored(3, media=PHOTO)])  # gives up on the hanging delete
    assert guard.refused("7/alice/abc")


async def test_a_hanging_blob_store_does_not_hold_up_the_append(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(erased_media, "REMOVE_TIMEOUT_S", 0.05)
    services = build_services(MemoryStore())
    await services.users("alice", "bob")
    created = await services.conversations.create_group("alice", "g", ["bob"])
    cid = created.details.conversation.conversation_id
    ids = SnowflakeGenerator(2, services.clock)
    messages = Messages(
        services.store, services.store, ids, services.clock, services.members, blobs=HangingBlobs()
    )
    photo = MediaRef(key=f"{cid}/alice/abc", content_type="image/png", size_bytes=3).SerializeToString()
    (sent,) = await messages.append([SendItem("alice", "phone", cid, "p1", "", "", b"", media=photo)])
    assert isinstance(sent, AppendOutcome)
    deletion = SendItem("alice", "phone", cid, "", "", "", b"", delete_seq=sent.message.seq)
    other = SendItem("bob", "phone", cid, "b1", "text/plain", "hi", b"")
    # The guard of the test only: before the bound, the Append waited on the store forever.
    results = await asyncio.wait_for(messages.append([deletion, other]), 30)
    deleted, answered = (ok(r) for r in results)
    assert deleted.message.deletes_seq == sent.message.seq and answered.message.body == "hi"


class AttachingBlobs(Blobs):
    """A blob store whose delete comes in the instant after the deletion's reference search,
    when the uploader's other device sends the same upload again (`attach_then`)."""

    def __init__(self) -> None:
        super().__init__()
        self.attach_then: Callable[[], Awaitable[list[AppendOutcome | HubbubError]]] | None = None
        self.attached: list[AppendOutcome | HubbubError] = []

    async def delete(self, key: str) -> bool:
        if self.attach_then is not None:
            self.attached = await self.attach_then()
        return await super().delete(key)


async def test_a_send_attaching_an_upload_whose_object_goes_is_refused_not_acked() -> None:
    """Acked with an object that is gone, the new message's file would be lost for good: it
    is refused NOT_FOUND (upload it again) instead."""
    services = build_services(MemoryStore())
    await services.users("alice", "bob")
    created = await services.conversations.create_group("alice", "g", ["bob"])
    cid = created.details.conversation.conversation_id
    blobs = AttachingBlobs()
    ids = SnowflakeGenerator(2, services.clock)
    messages = Messages(services.store, services.store, ids, services.clock, services.members, blobs=blobs)
    photo = MediaRef(key=f"{cid}/alice/abc", content_type="image/png", size_bytes=3).SerializeToString()
    (first,) = await messages.append([SendItem("alice", "phone", cid, "p1", "", "", b"", media=photo)])
    again = SendItem("alice", "laptop", cid, "p2", "", "", b"", media=photo)
    blobs.attach_then = lambda: messages.append([again])
    await messages.append(
        [SendItem("alice", "phone", cid, "", "", "", b"", delete_seq=ok(first).message.seq)]
    )
    assert blobs.deleted == [f"{cid}/alice/abc"]
    (answer,) = blobs.attached
    assert isinstance(answer, HubbubError), "acked, pointing to an object that is gone"
    assert answer.code is ErrorCode.NOT_FOUND
    (retry,) = await messages.append([SendItem("alice", "phone", cid, "p1", "", "", b"", media=photo)])
    assert ok(retry).duplicate, "a retry of a send stored before is still answered with it"


async def test_a_removal_waits_for_a_send_storing_the_same_upload_and_then_keeps_it() -> None:
    store = MemoryStore()
    services = build_services(store)
    await services.users("alice", "bob")
    created = await services.conversations.create_group("alice", "g", ["bob"])
    cid = created.details.conversation.conversation_id
    key = f"{cid}/alice/abc"
    photo = MediaRef(key=key, content_type="image/png", size_bytes=3).SerializeToString()
    (first,) = await services.messages.append(
        [SendItem("alice", "phone", cid, "p1", "", "", b"", media=photo)]
    )
    blobs, guard = Blobs(), MediaGuard(services.clock)
    erasing = ErasedMedia(blobs, store, guard=guard)
    with guard.attaching([key]):  # an append storing a send that attaches it
        removing = asyncio.ensure_future(erasing.remove(ok(first).message))
        await asyncio.sleep(0)  # a yield: the removal marks the key and waits for that append
        assert guard.refused(key), "a new send attaching it is refused from now on"
        await store.append([another_send_of(ok(first).message, "p2", photo)])
    await removing
    assert blobs.deleted == [], "the second message points to it"
    assert not guard.refused(key), "kept: sends may attach it again"


def another_send_of(message: StoredMessage, client_msg_id: str, media: bytes) -> NewMessage:
    return NewMessage(
        message.conversation_id, message.sender_id, "laptop", client_msg_id, "", "", b"",
        message.message_id + 1, message.sent_at_ms, 0, media,
    )  # fmt: skip
