"""The sweep of uploads never sent: the rule with an injected clock, a pass over a store, and
the references read from history page by page."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from kernel.blob_store import BlobInfo, StoredObject
from kernel.clock import ManualClock
from kernel.errors import NotMember, Unavailable
from kernel.media_urls import SignedUrls, new_key
from media import MemoryBlobStore, sweep
from media.references import HistoryReferences
from media.sweep import sweep_once, sweepable
from protos.client_pb2 import HistoryDirection, HistoryPage, MediaRef, Message
from protos.messaging_pb2 import HistoryRequest
from tests.media.test_blob_store_contract import chunks

HOUR_MS = 3_600_000
GRACE_MS = 24 * HOUR_MS


class KnownReferences:
    """MediaReferences from a set; `failing` makes every call fail as messaging down does."""

    def __init__(self, keys: Collection[str] = (), failing: bool = False) -> None:
        self.keys, self.failing = set(keys), failing
        self.asked: list[tuple[int, str, int]] = []

    async def referenced(
        self, conversation_id: int, uploader: str, keys: Collection[str], since_ms: int
    ) -> set[str]:
        self.asked.append((conversation_id, uploader, since_ms))
        if self.failing:
            raise Unavailable("messaging down")
        return self.keys & set(keys)


def test_only_objects_past_the_grace_and_pointed_to_by_nothing_are_sweepable() -> None:
    now = 100 * HOUR_MS
    old, young, sent = new_key(1, "alice"), new_key(1, "alice"), new_key(1, "alice")
    objects = [
        StoredObject(old, now - GRACE_MS),
        StoredObject(young, now - GRACE_MS + 1),
        StoredObject(sent, now - 2 * GRACE_MS),
        StoredObject("someone-elses/object.bin", now - 2 * GRACE_MS),  # not a key hubbub makes
    ]
    assert sweepable(objects, {sent}, now, GRACE_MS) == [old]


async def store_at(clock: ManualClock, store: MemoryBlobStore, key: str) -> None:
    await store.put(BlobInfo(key, "text/plain", 2), chunks(b"hi"))


async def test_a_pass_removes_unsent_uploads_once_their_grace_is_over() -> None:
    clock = ManualClock()
    store = MemoryBlobStore(SignedUrls("http://blobs.test", "s"), clock)
    unsent, sent, other_conversation = new_key(7, "alice"), new_key(7, "alice"), new_key(8, "bob")
    for key in (unsent, sent, other_conversation):
        await store_at(clock, store, key)
    references = KnownReferences({sent})

    clock.advance(GRACE_MS - 1)
    assert await sweep_once(store, references, clock.now_ms(), GRACE_MS) == 0
    assert references.asked == []  # nothing old enough: messaging is not even asked

    clock.advance(1)
    assert await sweep_once(store, references, clock.now_ms(), GRACE_MS) == 2
    assert await store.head(unsent) is None
    assert await store.head(other_conversation) is None
    assert await store.head(sent) is not None
    assert sorted((c, u) for c, u, _ in references.asked) == [(7, "alice"), (8, "bob")]


async def test_when_messaging_cannot_answer_every_object_is_kept() -> None:
    clock = ManualClock()
    store = MemoryBlobStore(SignedUrls("http://blobs.test", "s"), clock)
    key = new_key(7, "alice")
    await store_at(clock, store, key)
    clock.advance(2 * GRACE_MS)
    assert await sweep_once(store, KnownReferences(failing=True), clock.now_ms(), GRACE_MS) == 0
    assert await store.head(key) is not None


async def test_a_pass_walks_the_whole_listing_past_a_full_chunk_of_sent_objects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sweep, "MAX_CANDIDATES", 2)
    clock = ManualClock()
    store = MemoryBlobStore(SignedUrls("http://blobs.test", "s"), clock)
    sent = [new_key(7, "alice") for _ in range(3)]
    unsent = new_key(7, "alice")
    for key in (*sent, unsent):  # listed in this order: the sent ones fill the first chunks
        await store_at(clock, store, key)
    clock.advance(GRACE_MS)
    assert await sweep_once(store, KnownReferences(sent), clock.now_ms(), GRACE_MS) == 1
    assert await store.head(unsent) is None
    assert all([await store.head(key) is not None for key in sent])


class PagedHistory:
    """A conversation's messages as messaging's History answers them (newest first, by pages)."""

    def __init__(self, messages: list[Message], member: str) -> None:
        self.messages = sorted(messages, key=lambda m: -m.seq)
        self.member = member
        self.calls = 0

    @property
    def History(self) -> PagedHistory:
        return self

    async def __call__(self, request: HistoryRequest, *, timeout: float | None = None) -> HistoryPage:  # noqa: ASYNC109 (a stub's shape)
        self.calls += 1
        if request.user_id != self.member:
            raise NotMember("not a member")
        query = request.query
        assert query.direction == HistoryDirection.HISTORY_DIRECTION_BEFORE and query.newest_first
        older = [m for m in self.messages if not query.anchor_seq or m.seq < query.anchor_seq]
        page = older[: query.limit]
        more = len(older) > len(page)
        return HistoryPage(conversation_id=query.conversation_id, messages=page, has_more=more)


def message(seq: int, sent_at_ms: int, key: str = "") -> Message:
    found = Message(conversation_id=7, seq=seq, sender_id="alice", sent_at_ms=sent_at_ms)
    if key:
        found.media.CopyFrom(MediaRef(key=key, content_type="text/plain", size_bytes=2))
    return found


async def test_history_references_read_back_to_the_oldest_upload_and_no_further() -> None:
    early, late, unsent = new_key(7, "alice"), new_key(7, "alice"), new_key(7, "alice")
    # 350 messages, one a minute; `early` is pointed to by seq 20, `late` by seq 340.
    pointing = {20: early, 340: late}
    messages = [message(seq, seq * 60_000, pointing.get(seq, "")) for seq in range(1, 351)]
    history = PagedHistory(messages, member="alice")
    references = HistoryReferences(history)

    found = await references.referenced(7, "alice", [early, late, unsent], since_ms=10 * 60_000)
    assert found == {early, late}
    assert history.calls == 4  # every page down to seq 10: the page holding seq 20 included

    history.calls = 0
    assert await references.referenced(7, "alice", [late, unsent], since_ms=300 * 60_000) == {late}
    assert history.calls == 1  # the first page already reaches back past since_ms


async def test_history_references_fail_loudly_when_the_uploader_cannot_read_the_conversation() -> None:
    references = HistoryReferences(PagedHistory([message(1, 1)], member="bob"))
    with pytest.raises(NotMember):
        await references.referenced(7, "alice", [new_key(7, "alice")], since_ms=0)
