"""Messages over the memory store: per-item append results, dedupe, history paging,
resume, monotonic cursors and read-by."""

from __future__ import annotations

import pytest

from kernel.errors import InvalidArgument, NotFound, NotMember, TooLarge
from messaging.appends import SendItem
from messaging.conversations import AddMembers, RemoveMember
from messaging.model import AppendOutcome, CursorKind, CursorUpdate
from tests.messaging.conftest import Services


def item(sender: str, cid: int, client_msg_id: str, body: str = "hi") -> SendItem:
    return SendItem(sender, "phone", cid, client_msg_id, "text/plain", body, b"")


def ok(result: object) -> AppendOutcome:
    assert isinstance(result, AppendOutcome), result
    return result


async def group(services: Services, owner: str, *members: str) -> int:
    await services.users(owner, *members)
    created = await services.conversations.create_group(owner, "g", list(members))
    return created.details.conversation.conversation_id


async def send(services: Services, sender: str, cid: int, count: int, prefix: str = "m") -> None:
    results = await services.messages.append([item(sender, cid, f"{prefix}{i}") for i in range(count)])
    assert all(isinstance(r, AppendOutcome) for r in results)


async def test_per_item_errors_do_not_fail_the_batch(services: Services) -> None:
    cid = await group(services, "alice", "bob")
    await services.users("eve")
    results = await services.messages.append(
        [
            item("alice", cid, "a1"),
            item("eve", cid, "e1"),
            item("bob", cid, "b1", body="x" * 100_001),
            item("bob", cid, "b2", body=""),
            item("bob", 999, "b3"),
            item("bob", cid, "b4"),
        ]
    )
    assert [ok(results[0]).message.seq, ok(results[5]).message.seq] == [1, 2]
    assert [type(r) for r in results[1:5]] == [NotMember, TooLarge, InvalidArgument, NotFound]
    assert await services.store.last_seq(cid) == 2


async def test_retries_return_the_original_and_store_nothing(services: Services) -> None:
    cid = await group(services, "alice", "bob")
    first = ok((await services.messages.append([item("alice", cid, "c1", "hello")]))[0])
    services.clock.advance(1_000)
    again = await services.messages.append([item("alice", cid, "c1", "hello"), item("alice", cid, "c1")])
    for result in again:
        assert ok(result).duplicate
        assert ok(result).message == first.message
    assert not first.duplicate
    assert await services.store.last_seq(cid) == 1


async def test_membership_changes_apply_at_once_despite_the_cache(services: Services) -> None:
    cid = await group(services, "alice", "bob")
    await services.users("carol")
    assert isinstance((await services.messages.append([item("carol", cid, "c0")]))[0], NotMember)
    await services.conversations.update_group("alice", cid, AddMembers(["carol"]))
    ok((await services.messages.append([item("carol", cid, "c1")]))[0])
    await services.conversations.update_group("carol", cid, RemoveMember("carol"))
    assert isinstance((await services.messages.append([item("carol", cid, "c2")]))[0], NotMember)


@pytest.mark.parametrize("newest_first", [False, True])
async def test_history_pages_before_and_after(services: Services, newest_first: bool) -> None:
    cid = await group(services, "alice")
    await send(services, "alice", cid, 7)
    history = services.messages.history

    newest = await history("alice", cid, anchor_seq=0, direction="before", limit=3, newest_first=newest_first)
    seqs = [m.seq for m in newest.messages]
    assert seqs == ([7, 6, 5] if newest_first else [5, 6, 7])
    assert newest.has_more

    older = await history("alice", cid, anchor_seq=3, direction="before", limit=5, newest_first=newest_first)
    assert sorted(m.seq for m in older.messages) == [1, 2]
    assert not older.has_more

    after = await history("alice", cid, anchor_seq=2, direction="after", limit=3, newest_first=newest_first)
    assert sorted(m.seq for m in after.messages) == [3, 4, 5]
    assert after.has_more
    tail = await history("alice", cid, anchor_seq=4, direction="after", limit=3, newest_first=newest_first)
    assert sorted(m.seq for m in tail.messages) == [5, 6, 7]
    assert not tail.has_more


async def test_history_limit_is_clamped_to_100(services: Services) -> None:
    cid = await group(services, "alice")
    await send(services, "alice", cid, 120)
    page = await services.messages.history(
        "alice", cid, anchor_seq=0, direction="before", limit=1000, newest_first=False
    )
    assert [m.seq for m in page.messages] == list(range(21, 121))
    assert page.has_more
    default = await services.messages.history(
        "alice", cid, anchor_seq=0, direction="before", limit=0, newest_first=False
    )
    assert len(default.messages) == 50


async def test_history_needs_membership(services: Services) -> None:
    cid = await group(services, "alice")
    await services.users("eve")
    with pytest.raises(NotMember):
        await services.messages.history(
            "eve", cid, anchor_seq=0, direction="before", limit=1, newest_first=False
        )


async def test_cursors_are_monotonic_clamped_and_read_implies_delivered(services: Services) -> None:
    cid = await group(services, "alice", "bob")
    await send(services, "alice", cid, 5)
    update = services.messages.update_cursors
    [moved] = await update([CursorUpdate("bob", cid, CursorKind.DELIVERED, 4)])
    assert moved.change is not None and moved.change.moved
    [lower] = await update([CursorUpdate("bob", cid, CursorKind.DELIVERED, 2)])
    assert lower.change is not None and not lower.change.moved
    assert lower.change.cursors.delivered_seq == 4
    [read] = await update([CursorUpdate("bob", cid, CursorKind.READ, 10**9)])
    assert read.change is not None
    assert (read.change.cursors.read_seq, read.change.cursors.delivered_seq) == (5, 5)
    await send(services, "alice", cid, 2, prefix="later")
    [summary], _ = await services.conversations.list_page("bob", 0, 0)
    assert summary.unread == 2


async def test_cursor_updates_check_membership_per_item(services: Services) -> None:
    cid = await group(services, "alice")
    await services.users("eve")
    await send(services, "alice", cid, 3)
    outcomes = await services.messages.update_cursors(
        [CursorUpdate("eve", cid, CursorKind.READ, 3), CursorUpdate("alice", cid, CursorKind.READ, 3)]
    )
    assert isinstance(outcomes[0].error, NotMember) and outcomes[0].change is None
    assert outcomes[1].change is not None and outcomes[1].change.cursors.read_seq == 3
    assert (await services.store.get_cursors("eve", cid)).read_seq == 0


async def test_read_by_splits_read_and_delivered(services: Services) -> None:
    cid = await group(services, "alice", "bob", "carol", "dave")
    await send(services, "alice", cid, 3)
    await services.messages.update_cursors(
        [
            CursorUpdate("alice", cid, CursorKind.READ, 3),
            CursorUpdate("bob", cid, CursorKind.READ, 2),
            CursorUpdate("carol", cid, CursorKind.DELIVERED, 3),
            CursorUpdate("dave", cid, CursorKind.DELIVERED, 1),
        ]
    )
    read_by = await services.messages.read_by("bob", cid, 2)
    assert read_by.read_by == ["bob"]  # the sender (alice) is left out
    assert read_by.delivered_to == ["carol"]


async def test_resume_from_device_cursor_or_delivered_cursor(services: Services) -> None:
    busy = await group(services, "alice", "bob")
    quiet = await services.conversations.create_group("alice", "quiet", ["bob"])
    other = await services.conversations.create_group("alice", "other", ["bob"])
    quiet_id = quiet.details.conversation.conversation_id
    other_id = other.details.conversation.conversation_id
    await send(services, "alice", busy, 5, prefix="busy")
    await send(services, "alice", quiet_id, 2, prefix="quiet")
    await send(services, "alice", other_id, 3, prefix="other")
    await services.messages.update_cursors(
        [
            CursorUpdate("bob", quiet_id, CursorKind.DELIVERED, 2),
            CursorUpdate("bob", other_id, CursorKind.DELIVERED, 1),
        ]
    )
    pages = await services.messages.resume("bob", {busy: 1}, limit=3)
    by_id = {p.conversation_id: p for p in pages}
    assert set(by_id) == {busy, other_id}  # quiet: nothing missed
    assert [m.seq for m in by_id[busy].messages] == [2, 3, 4]
    assert by_id[busy].has_more
    assert [m.seq for m in by_id[other_id].messages] == [2, 3]
    assert not by_id[other_id].has_more
