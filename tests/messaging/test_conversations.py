"""Conversations over the memory store: one direct per pair, group roles, membership checks."""

from __future__ import annotations

import asyncio

import pytest

from kernel.errors import InvalidArgument, LimitExceeded, NotFound, NotMember, PermissionDenied
from messaging.conversations import AddMembers, EventKind, RemoveMember, Rename, SetRole
from messaging.model import ConversationKind, Role
from tests.messaging.conftest import Services


async def test_direct_is_one_per_pair_however_often_opened(services: Services) -> None:
    await services.users("alice", "bob")
    opened = await asyncio.gather(
        *(services.conversations.open_direct(*pair) for pair in [("alice", "bob"), ("bob", "alice")] * 5)
    )
    assert len({d.conversation.conversation_id for d in opened}) == 1
    assert [m.user_id for m in opened[0].members] == ["alice", "bob"]
    assert opened[0].conversation.kind is ConversationKind.DIRECT


async def test_direct_needs_two_existing_distinct_users(services: Services) -> None:
    await services.users("alice")
    with pytest.raises(NotFound):
        await services.conversations.open_direct("alice", "ghost")
    with pytest.raises(InvalidArgument):
        await services.conversations.open_direct("alice", "alice")


async def test_group_roles_and_ownership_transfer(services: Services) -> None:
    await services.users("olga", "adam", "mia", "max")
    created = await services.conversations.create_group("olga", "team", ["adam", "mia"])
    cid = created.details.conversation.conversation_id
    assert created.kind is EventKind.CREATED
    roles = {m.user_id: m.role for m in created.details.members}
    assert roles == {"olga": Role.OWNER, "adam": Role.MEMBER, "mia": Role.MEMBER}

    update = services.conversations.update_group
    with pytest.raises(PermissionDenied):
        await update("adam", cid, AddMembers(["max"]))
    await update("olga", cid, SetRole("adam", Role.ADMIN))
    added = await update("adam", cid, AddMembers(["max", "mia"]))
    assert added.user_ids == ["max"]
    renamed = await update("adam", cid, Rename("new name"))
    assert renamed.details.conversation.title == "new name"
    with pytest.raises(PermissionDenied):
        await update("adam", cid, RemoveMember("olga"))
    with pytest.raises(PermissionDenied):
        await update("olga", cid, RemoveMember("olga"))

    moved = await update("olga", cid, SetRole("mia", Role.OWNER))
    roles = {m.user_id: m.role for m in moved.details.members}
    assert roles["mia"] is Role.OWNER
    assert roles["olga"] is Role.ADMIN
    await update("olga", cid, RemoveMember("olga"))  # now she may leave
    with pytest.raises(NotMember):
        await services.conversations.get("olga", cid)


async def test_non_members_and_unknown_conversations(services: Services) -> None:
    await services.users("olga", "eve")
    created = await services.conversations.create_group("olga", "team", [])
    cid = created.details.conversation.conversation_id
    with pytest.raises(NotMember):
        await services.conversations.get("eve", cid)
    with pytest.raises(NotMember):
        await services.conversations.update_group("eve", cid, Rename("x"))
    with pytest.raises(NotFound):
        await services.conversations.get("olga", 12345)
    members = await services.conversations.get_members("", cid)  # internal caller
    assert list(members.members) == ["olga"]


async def test_direct_conversations_cannot_be_changed(services: Services) -> None:
    await services.users("alice", "bob")
    direct = await services.conversations.open_direct("alice", "bob")
    with pytest.raises(InvalidArgument):
        await services.conversations.update_group(
            "alice", direct.conversation.conversation_id, Rename("nope")
        )


async def test_group_with_unknown_invitee_is_not_created(services: Services) -> None:
    await services.users("olga")
    with pytest.raises(NotFound):
        await services.conversations.create_group("olga", "team", ["ghost"])
    page, _ = await services.conversations.list_page("olga", 0, 0)
    assert page == []


async def _group_with_candidates(services: Services, candidates: int) -> tuple[int, list[str]]:
    names = [f"u{i:04d}" for i in range(candidates)]
    await services.users("olga", *names)
    created = await services.conversations.create_group("olga", "race", [])
    return created.details.conversation.conversation_id, names


@pytest.mark.parametrize(("batches", "size"), [(2, 300), (4, 200)])
async def test_concurrent_adds_never_pass_the_member_limit(
    services: Services, batches: int, size: int
) -> None:
    """Issue 7 finding 7: two concurrent adds of 300 made a group of 601."""
    cid, names = await _group_with_candidates(services, batches * size)
    update = services.conversations.update_group
    results = await asyncio.gather(
        *(update("olga", cid, AddMembers(names[i * size : (i + 1) * size])) for i in range(batches)),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(e, LimitExceeded) for e in lost) and len(won) == 499 // size
    members = await services.store.get_members(cid)
    assert len(members) == 1 + size * len(won) <= 500
    assert len(won[-1].details.members) == len(members)


async def test_concurrent_ownership_transfers_leave_one_owner(services: Services) -> None:
    await services.users("olga", "adam", "mia", "max")
    created = await services.conversations.create_group("olga", "team", ["adam", "mia", "max"])
    cid = created.details.conversation.conversation_id
    update = services.conversations.update_group
    results = await asyncio.gather(
        update("olga", cid, SetRole("adam", Role.OWNER)),
        update("olga", cid, SetRole("mia", Role.OWNER)),
        update("olga", cid, RemoveMember("max")),
        update("olga", cid, SetRole("max", Role.ADMIN)),
        return_exceptions=True,
    )
    assert not isinstance(results[0], BaseException)
    assert isinstance(results[1], PermissionDenied)  # olga is no longer the owner
    roles = {m.user_id: m.role for m in await services.store.get_members(cid)}
    assert [u for u, r in roles.items() if r is Role.OWNER] == ["adam"]
    assert "max" not in roles


async def test_the_lock_table_empties_after_the_changes(services: Services) -> None:
    cid, names = await _group_with_candidates(services, 3)
    update = services.conversations.update_group
    await asyncio.gather(*(update("olga", cid, AddMembers([n])) for n in names))
    assert len(services.conversations._changing) == 0


async def test_list_paging_key_out_of_range_is_invalid_argument(services: Services) -> None:
    await services.users("olga")
    with pytest.raises(InvalidArgument):
        await services.conversations.list_page("olga", 10, 5, 2**63)
    assert await services.conversations.list_page("olga", 10, 5, 2**63 - 1) == ([], False)
