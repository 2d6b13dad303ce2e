"""The pure rules: limits, formats, group permissions, paging bounds, cursor clamping."""

from __future__ import annotations

import pytest

from kernel.errors import HubbubError, InvalidArgument, LimitExceeded, NotFound, PermissionDenied, TooLarge
from messaging import rules
from messaging.model import Member, Role

OWNER = Member("olga", Role.OWNER, 0)
ADMIN = Member("adam", Role.ADMIN, 0)
ADMIN2 = Member("anna", Role.ADMIN, 0)
MEMBER = Member("mia", Role.MEMBER, 0)
MEMBER2 = Member("max", Role.MEMBER, 0)


def test_send_accepts_a_body_or_a_payload_up_to_the_limit() -> None:
    rules.validate_send("c1", "text/plain", "hi", b"")
    rules.validate_send("c1", "", "", b"\x00ciphertext")
    rules.validate_send("x" * 64, "t" * 100, "a" * 100_000, b"")


@pytest.mark.parametrize(
    ("client_msg_id", "content_type", "body", "payload", "error"),
    [
        ("c1", "text/plain", "", b"", InvalidArgument),
        ("c1", "text/plain", "a" * 100_001, b"", TooLarge),
        ("", "text/plain", "hi", b"", InvalidArgument),
        ("x" * 65, "text/plain", "hi", b"", InvalidArgument),
        ("c1", "t" * 101, "hi", b"", InvalidArgument),
    ],
)
def test_send_rejects(
    client_msg_id: str, content_type: str, body: str, payload: bytes, error: type[HubbubError]
) -> None:
    with pytest.raises(error):
        rules.validate_send(client_msg_id, content_type, body, payload)


def test_body_limit_counts_characters_not_bytes() -> None:
    rules.validate_send("c1", "", "é" * 100_000, b"")  # 200,000 bytes of UTF-8


@pytest.mark.parametrize("user_id", ["a", "alice", "bob_1.x-y", "z" * 32])
def test_user_id_accepted(user_id: str) -> None:
    rules.validate_user_id(user_id)


@pytest.mark.parametrize("user_id", ["", "Alice", "a b", "z" * 33, "émile", "a/b"])
def test_user_id_rejected(user_id: str) -> None:
    with pytest.raises(InvalidArgument):
        rules.validate_user_id(user_id)


def test_password_and_display_name_bounds() -> None:
    rules.validate_password("x" * 8)
    rules.validate_password("x" * 256)
    for bad in ("x" * 7, "x" * 257):
        with pytest.raises(InvalidArgument):
            rules.validate_password(bad)
    rules.validate_display_name("d" * 64)
    with pytest.raises(InvalidArgument):
        rules.validate_display_name("d" * 65)


def test_direct_needs_two_distinct_users() -> None:
    rules.validate_direct("alice", "bob")
    with pytest.raises(InvalidArgument):
        rules.validate_direct("alice", "alice")
    with pytest.raises(InvalidArgument):
        rules.validate_contact("alice", "alice")


def test_group_title_bounds() -> None:
    rules.validate_title("t")
    rules.validate_title("t" * 100)
    for bad in ("", "t" * 101):
        with pytest.raises(InvalidArgument):
            rules.validate_title(bad)


def test_new_group_members_dedupes_and_drops_the_owner() -> None:
    assert rules.new_group_members("olga", ["bob", "olga", "bob", "carl"]) == ["bob", "carl"]


def test_group_of_500_including_owner_is_the_limit() -> None:
    invited = [f"u{i}" for i in range(499)]
    assert len(rules.new_group_members("olga", invited)) == 499
    with pytest.raises(LimitExceeded):
        rules.new_group_members("olga", [*invited, "one_more"])


def test_adding_members_counts_only_newcomers_against_the_limit() -> None:
    current = [OWNER, *(Member(f"u{i}", Role.MEMBER, 0) for i in range(498))]
    assert rules.members_to_add(OWNER, current, ["u1", "new", "new"]) == ["new"]
    full = [*current, Member("new", Role.MEMBER, 0)]
    assert rules.members_to_add(OWNER, full, ["u1"]) == []
    with pytest.raises(LimitExceeded):
        rules.members_to_add(OWNER, full, ["another"])


def test_only_admins_and_owner_add_and_rename() -> None:
    for actor in (OWNER, ADMIN):
        rules.check_can_rename(actor)
        rules.members_to_add(actor, [OWNER, ADMIN, MEMBER], ["x"])
    with pytest.raises(PermissionDenied):
        rules.check_can_rename(MEMBER)
    with pytest.raises(PermissionDenied):
        rules.members_to_add(MEMBER, [OWNER, MEMBER], ["x"])


@pytest.mark.parametrize(
    ("actor", "target", "allowed"),
    [
        (MEMBER, MEMBER, True),  # leave
        (ADMIN, ADMIN, True),  # leave
        (MEMBER, MEMBER2, False),
        (MEMBER, ADMIN, False),
        (ADMIN, MEMBER, True),
        (ADMIN, ADMIN2, False),  # only the owner removes admins
        (OWNER, ADMIN, True),
        (OWNER, MEMBER, True),
        (ADMIN, OWNER, False),
        (MEMBER, OWNER, False),
        (OWNER, OWNER, False),  # the owner transfers ownership before leaving
    ],
)
def test_remove_permissions(actor: Member, target: Member, allowed: bool) -> None:
    if allowed:
        rules.check_can_remove(actor, target)
    else:
        with pytest.raises(PermissionDenied):
            rules.check_can_remove(actor, target)


def test_only_the_owner_changes_roles() -> None:
    rules.check_can_set_role(OWNER, MEMBER, Role.ADMIN)
    rules.check_can_set_role(OWNER, ADMIN, Role.MEMBER)
    rules.check_can_set_role(OWNER, MEMBER, Role.OWNER)
    for actor in (ADMIN, MEMBER):
        with pytest.raises(PermissionDenied):
            rules.check_can_set_role(actor, MEMBER2, Role.ADMIN)
    with pytest.raises(InvalidArgument):
        rules.check_can_set_role(OWNER, OWNER, Role.MEMBER)


def test_find_member() -> None:
    assert rules.find_member([OWNER, MEMBER], "mia") is MEMBER
    with pytest.raises(NotFound):
        rules.find_member([OWNER], "mia")


@pytest.mark.parametrize(("asked", "used"), [(0, 50), (1, 1), (100, 100), (101, 100), (10_000, 100)])
def test_page_limit_defaults_and_clamps(asked: int, used: int) -> None:
    assert rules.page_limit(asked) == used


@pytest.mark.parametrize(("asked", "used"), [(0, 100), (7, 7), (500, 100)])
def test_resume_limit_defaults_and_clamps(asked: int, used: int) -> None:
    assert rules.resume_limit(asked) == used


def test_negative_limits_are_rejected() -> None:
    with pytest.raises(InvalidArgument):
        rules.page_limit(-1)
    with pytest.raises(InvalidArgument):
        rules.resume_limit(-1)


def test_cursor_never_passes_the_last_message() -> None:
    assert rules.clamp_cursor(5, 10) == 5
    assert rules.clamp_cursor(10**9, 10) == 10
    with pytest.raises(InvalidArgument):
        rules.clamp_cursor(-1, 10)


@pytest.mark.parametrize(
    ("sizes", "budget", "fits"),
    [
        ([], 100, 0),
        ([10, 10, 10], 100, 3),
        ([40, 40, 40], 100, 2),
        ([40, 60, 1], 100, 2),  # exactly the budget fits
        ([500, 1], 100, 1),  # the first always fits: paging makes progress
        ([10, 500, 1], 100, 1),  # stops at the first that does not fit, even if later ones would
    ],
)
def test_fit_count_keeps_the_leading_items_within_the_budget(
    sizes: list[int], budget: int, fits: int
) -> None:
    assert rules.fit_count(sizes, budget) == fits


def test_fit_count_may_fit_nothing_when_told() -> None:
    """A later conversation of a resume: the reply has made progress already."""
    assert rules.fit_count([500], 100, at_least_one=False) == 0
    assert rules.fit_count([50, 60], 100, at_least_one=False) == 1
    assert rules.fit_count([], 0, at_least_one=False) == 0
