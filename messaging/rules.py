"""The messaging room's rules as pure functions: input limits, account formats, group
permissions and paging bounds. No I/O and no clock here, so every rule is unit-tested directly."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from kernel.budget import fit_count as fit_count  # the one byte-budget rule, re-exported
from kernel.errors import InvalidArgument, LimitExceeded, NotFound, PermissionDenied, TooLarge
from kernel.limits import (
    DEFAULT_PAGE_LIMIT,
    DEFAULT_RESUME_LIMIT,
    MAX_BODY_CHARS,
    MAX_CLIENT_MSG_ID_CHARS,
    MAX_CONTACTS,
    MAX_CONTENT_TYPE_CHARS,
    MAX_DISPLAY_NAME_CHARS,
    MAX_GROUP_MEMBERS,
    MAX_MEDIA_REF_BYTES,
    MAX_PAGE_LIMIT,
    MAX_PASSWORD_CHARS,
    MAX_RESUME_LIMIT,
    MAX_TITLE_CHARS,
    MIN_PASSWORD_CHARS,
    RESERVED_CLIENT_MSG_ID_PREFIX,
    USER_ID_PATTERN,
)
from messaging.model import Member, Role

_USER_ID = re.compile(USER_ID_PATTERN)


# ------------------------------------------------------------------ messages
def validate_send(
    client_msg_id: str, content_type: str, body: str, payload: bytes, media: bytes = b""
) -> None:
    """A message worth storing: an idempotency key, a bounded body, something to say."""
    if not 1 <= len(client_msg_id) <= MAX_CLIENT_MSG_ID_CHARS:
        raise InvalidArgument(f"clientMsgId must be 1..{MAX_CLIENT_MSG_ID_CHARS} characters")
    if client_msg_id.startswith(RESERVED_CLIENT_MSG_ID_PREFIX):
        raise InvalidArgument(f"clientMsgId must not start with {RESERVED_CLIENT_MSG_ID_PREFIX!r}")
    if len(content_type) > MAX_CONTENT_TYPE_CHARS:
        raise InvalidArgument(f"contentType must be at most {MAX_CONTENT_TYPE_CHARS} characters")
    if len(body) > MAX_BODY_CHARS:
        raise TooLarge(f"body must be at most {MAX_BODY_CHARS} characters")
    if len(media) > MAX_MEDIA_REF_BYTES:
        raise TooLarge(f"media reference must be at most {MAX_MEDIA_REF_BYTES} bytes")
    if not body and not payload and not media:
        raise InvalidArgument("a message needs a body, a payload or media")


# ------------------------------------------------------------------ accounts
def validate_user_id(user_id: str) -> None:
    if _USER_ID.fullmatch(user_id) is None:
        raise InvalidArgument("user id must be 1..32 characters of a-z, 0-9, '_', '.', '-'")


def validate_password(password: str) -> None:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidArgument(f"password must be {MIN_PASSWORD_CHARS}..{MAX_PASSWORD_CHARS} characters")


def validate_display_name(display_name: str) -> None:
    if len(display_name) > MAX_DISPLAY_NAME_CHARS:
        raise InvalidArgument(f"display name must be at most {MAX_DISPLAY_NAME_CHARS} characters")


def validate_contact(owner_id: str, contact_id: str) -> None:
    validate_user_id(contact_id)
    if owner_id == contact_id:
        raise InvalidArgument("you cannot add yourself as a contact")


def validate_contact_count(contacts: Sequence[str], contact_id: str) -> None:
    """Adding one more contact must stay within MAX_CONTACTS (re-adding one is always fine)."""
    if contact_id not in contacts and len(contacts) >= MAX_CONTACTS:
        raise LimitExceeded(f"a user has at most {MAX_CONTACTS} contacts")


# ------------------------------------------------------------- conversations
def validate_direct(user_id: str, peer_id: str) -> None:
    """Both ids well formed and distinct (the service checks they exist)."""
    validate_user_id(peer_id)
    if user_id == peer_id:
        raise InvalidArgument("a direct conversation needs two different users")


def validate_title(title: str) -> None:
    if not 1 <= len(title) <= MAX_TITLE_CHARS:
        raise InvalidArgument(f"group title must be 1..{MAX_TITLE_CHARS} characters")


def new_group_members(owner_id: str, member_ids: Iterable[str]) -> list[str]:
    """The invited members (deduplicated, owner removed, order kept), within the size limit."""
    seen: dict[str, None] = {}
    for user_id in member_ids:
        validate_user_id(user_id)
        if user_id != owner_id:
            seen[user_id] = None
    check_group_size(1 + len(seen))
    return list(seen)


def check_group_size(total: int) -> None:
    if total > MAX_GROUP_MEMBERS:
        raise LimitExceeded(f"a group has at most {MAX_GROUP_MEMBERS} members")


def check_can_rename(actor: Member) -> None:
    if actor.role < Role.ADMIN:
        raise PermissionDenied("only admins and the owner may rename a group")


def members_to_add(actor: Member, current: Sequence[Member], user_ids: Iterable[str]) -> list[str]:
    """The ids not yet members (deduplicated), if the actor may add and the group has room.
    Adding people who are already members is not an error: the change is idempotent."""
    if actor.role < Role.ADMIN:
        raise PermissionDenied("only admins and the owner may add members")
    present = {member.user_id for member in current}
    fresh: dict[str, None] = {}
    for user_id in user_ids:
        validate_user_id(user_id)
        if user_id not in present:
            fresh[user_id] = None
    check_group_size(len(current) + len(fresh))
    return list(fresh)


def check_can_remove(actor: Member, target: Member) -> None:
    """Anyone but the owner may leave. Admins remove members; the owner removes anyone but
    themself. The owner never leaves directly: they transfer ownership first, so a group
    always has exactly one owner."""
    if target.role is Role.OWNER:
        if actor.user_id == target.user_id:
            raise PermissionDenied("the owner must transfer ownership before leaving")
        raise PermissionDenied("the owner cannot be removed")
    if actor.user_id == target.user_id:
        return
    if actor.role < Role.ADMIN:
        raise PermissionDenied("only admins and the owner may remove other members")
    if target.role >= actor.role:
        raise PermissionDenied("only the owner may remove an admin")


def check_can_set_role(actor: Member, target: Member, role: Role) -> None:
    """Only the owner changes roles. Making someone OWNER transfers ownership (the old owner
    becomes an admin); the owner cannot demote themself otherwise."""
    if actor.role is not Role.OWNER:
        raise PermissionDenied("only the owner may change roles")
    if actor.user_id == target.user_id:
        raise InvalidArgument("the owner keeps their role; give ownership to another member instead")


def find_member(members: Iterable[Member], user_id: str) -> Member:
    for member in members:
        if member.user_id == user_id:
            return member
    raise NotFound(f"{user_id} is not a member of this conversation")


# ------------------------------------------------------------------- paging
def page_limit(limit: int) -> int:
    """History and list pages: 0 means the default (50); above 100 is clamped to 100 rather
    than rejected, since `has_more` already tells the client to page on."""
    if limit < 0:
        raise InvalidArgument("limit must not be negative")
    if limit == 0:
        return DEFAULT_PAGE_LIMIT
    return min(limit, MAX_PAGE_LIMIT)


def resume_limit(limit: int) -> int:
    """Messages per conversation on resume: 0 means 100; above 100 is clamped to 100."""
    if limit < 0:
        raise InvalidArgument("limit must not be negative")
    if limit == 0:
        return DEFAULT_RESUME_LIMIT
    return min(limit, MAX_RESUME_LIMIT)


def clamp_cursor(seq: int, last_seq: int) -> int:
    """A cursor never points past the last message: reading "up to 10**9" must not mark
    messages that do not exist yet as read."""
    if seq < 0:
        raise InvalidArgument("seq must not be negative")
    return min(seq, last_seq)
