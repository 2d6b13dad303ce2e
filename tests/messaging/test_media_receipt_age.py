"""A send attaching an upload is refused once the upload's receipt is over MEDIA_RECEIPT_TTL_MS
old (it may be swept), but dedupe answers first: a send stored in time and retried later
(its sender never heard the ack) gets its original `sent`, not NOT_FOUND."""

from __future__ import annotations

from kernel.errors import ErrorCode, HubbubError
from kernel.limits import MEDIA_RECEIPT_TTL_MS
from kernel.media_urls import media_key, receipt
from messaging.appends import SendItem
from messaging.model import AppendOutcome, StoredMessage
from messaging.store.memory import MemoryStore
from protos.client_pb2 import MediaRef
from tests.messaging.conftest import build_services


async def test_a_send_retried_after_its_uploads_hour_is_answered_with_the_original() -> None:
    services = build_services(MemoryStore())
    await services.users("alice", "bob")
    created = await services.conversations.create_group("alice", "g", ["bob"])
    cid = created.details.conversation.conversation_id
    uploaded_at = services.clock.now_ms()
    key = f"{cid}/alice/photo"
    proof = receipt(media_key("s"), key, "image/png", 3, uploaded_at)
    photo = MediaRef(key=key, content_type="image/png", size_bytes=3, receipt=proof).SerializeToString()

    def send(client_msg_id: str) -> SendItem:
        return SendItem("alice", "phone", cid, client_msg_id, "text/plain", "look", b"", media=photo)

    (first,) = await services.messages.append([send("m1")])
    assert isinstance(first, AppendOutcome) and not first.duplicate
    services.clock.advance(MEDIA_RECEIPT_TTL_MS + 1)
    retry, fresh = await services.messages.append([send("m1"), send("m2")])
    assert isinstance(retry, AppendOutcome), f"the retry was refused: {retry}"
    assert (retry.duplicate, retry.message.seq) == (True, first.message.seq)
    assert isinstance(fresh, HubbubError) and fresh.code is ErrorCode.NOT_FOUND  # a new one: upload again
    assert await services.store.last_seq(cid) == 1


class OriginalLookupFails(MemoryStore):
    """A store whose dedupe lookup for a late retry fails (the store erred on that read)."""

    async def original(self, sender_id: str, client_msg_id: str) -> StoredMessage | None:
        raise RuntimeError("read failed")


async def test_a_failed_lookup_of_a_late_retry_fails_only_that_send() -> None:
    services = build_services(OriginalLookupFails())
    await services.users("alice", "bob")
    created = await services.conversations.create_group("alice", "g", ["bob"])
    cid = created.details.conversation.conversation_id
    key = f"{cid}/alice/photo"
    proof = receipt(media_key("s"), key, "image/png", 3, services.clock.now_ms())
    photo = MediaRef(key=key, content_type="image/png", size_bytes=3, receipt=proof).SerializeToString()
    services.clock.advance(MEDIA_RECEIPT_TTL_MS + 1)
    late = SendItem("alice", "phone", cid, "m1", "text/plain", "look", b"", media=photo)
    plain = SendItem("alice", "phone", cid, "m2", "text/plain", "hello", b"")
    refused, stored = await services.messages.append([late, plain])
    assert isinstance(refused, HubbubError) and refused.code is ErrorCode.INTERNAL
    assert isinstance(stored, AppendOutcome) and stored.message.body == "hello"
    assert await services.store.last_seq(cid) == 1
