"""Conversations over the memory store: one direct per pair, group roles, membership checks."""

from __future__ import annotations

import asyncio

import pytest

from kernel.errors import InvalidArgument, NotFound, NotMember, PermissionDenied
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
