"""Accounts over the memory store: sign-up, log-in tokens, contacts, presence audiences."""

from __future__ import annotations

import pytest

from kernel.errors import Conflict, InvalidArgument, LimitExceeded, NotFound, Unauthenticated
from kernel.limits import MAX_BATCH_USERS
from kernel.tokens import verify_token
from messaging.accounts import presence_visible
from messaging.model import DirectPeer
from tests.messaging.conftest import SECRET, Services


async def test_sign_up_then_log_in_issues_verifiable_tokens(services: Services) -> None:
    signed = await services.accounts.sign_up("alice", "password123", "Alice")
    logged = await services.accounts.log_in("alice", "password123")
    for session in (signed, logged):
        claims = verify_token(SECRET, session.token, services.clock.now_ms())
        assert claims.user_id == "alice"
        assert claims.expires_at_ms == session.expires_at_ms
    stored = await services.store.get_user("alice")
    assert stored is not None
    assert "password123" not in stored.password_hash


async def test_log_in_fails_the_same_way_for_wrong_password_and_unknown_user(services: Services) -> None:
    await services.users("alice")
    with pytest.raises(Unauthenticated) as wrong:
        await services.accounts.log_in("alice", "not-the-password")
    with pytest.raises(Unauthenticated) as unknown:
        await services.accounts.log_in("nobody", "password123")
    assert wrong.value.message == unknown.value.message


async def test_sign_up_rejects_taken_ids_and_bad_input(services: Services) -> None:
    await services.users("alice")
    with pytest.raises(Conflict):
        await services.accounts.sign_up("alice", "password123", "")
    with pytest.raises(InvalidArgument):
        await services.accounts.sign_up("Bad Id", "password123", "")
    with pytest.raises(InvalidArgument):
        await services.accounts.sign_up("bob", "short", "")


async def test_profile_defaults_and_updates(services: Services) -> None:
    await services.users("alice")
    assert (await services.accounts.get_profile("alice")).display_name == "alice"
    assert (await services.accounts.update_profile("alice", "Alice A.")).display_name == "Alice A."
    with pytest.raises(NotFound):
        await services.accounts.get_profile("nobody")


async def test_contacts_and_presence_audience(services: Services) -> None:
    await services.users("alice", "bob", "carol", "dave")
    assert await services.accounts.add_contact("alice", "bob") == ["bob"]
    assert await services.accounts.add_contact("alice", "bob") == ["bob"]  # idempotent
    await services.accounts.add_contact("carol", "alice")
    await services.conversations.open_direct("alice", "dave")
    with pytest.raises(NotFound):
        await services.accounts.add_contact("alice", "nobody")
    # carol lists alice and alice lists bob, one-sidedly: neither sees the other (issue 7 #9);
    # alice opened a chat with dave, who has not answered: nobody sees anybody yet
    assert await services.accounts.presence_audience("alice") == []
    assert await services.accounts.presence_watch_list("dave") == []
    await services.conversations.open_direct("dave", "alice")  # dave accepts: both see
    assert await services.accounts.presence_audience("alice") == ["dave"]
    assert await services.accounts.presence_watch_list("alice") == ["dave"]
    assert await services.accounts.presence_watch_lists(["dave", "alice", "dave", "bob"]) == {
        "dave": ["alice"],
        "alice": ["dave"],
        "bob": [],
    }
    await services.accounts.add_contact("bob", "alice")  # now mutual
    assert await services.accounts.presence_audience("alice") == ["bob", "dave"]
    assert await services.accounts.presence_watch_list("bob") == ["alice"]
    assert await services.accounts.remove_contact("alice", "bob") == []


async def test_tokens_carry_the_generation_and_log_out_everywhere_bumps_it(services: Services) -> None:
    """Issue 7 #9: tokens are revocable, and only users that exist (with valid ids) have one."""
    first = await services.accounts.sign_up("alice", "password123", "")
    assert verify_token(SECRET, first.token, services.clock.now_ms()).generation == 0
    assert await services.accounts.token_generations(["alice", "nobody", "Bad Id!", "x" * 5000]) == {
        "alice": 0
    }
    assert await services.accounts.revoke_tokens("alice") == 1
    assert await services.accounts.token_generations(["alice"]) == {"alice": 1}
    again = await services.accounts.log_in("alice", "password123")
    assert verify_token(SECRET, again.token, services.clock.now_ms()).generation == 1
    with pytest.raises(NotFound):
        await services.accounts.revoke_tokens("nobody")
    with pytest.raises(InvalidArgument):
        await services.accounts.token_generations([f"u{i}" for i in range(1001)])


async def test_the_contact_list_is_bounded(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("messaging.rules.MAX_CONTACTS", 3)
    await services.users("alice", "b1", "b2", "b3", "b4")
    for friend in ("b1", "b2", "b3"):
        await services.accounts.add_contact("alice", friend)
    with pytest.raises(LimitExceeded):
        await services.accounts.add_contact("alice", "b4")
    assert await services.accounts.add_contact("alice", "b2") == ["b1", "b2", "b3"]  # re-adding is fine
    await services.accounts.remove_contact("alice", "b1")
    assert "b4" in await services.accounts.add_contact("alice", "b4")


async def test_watch_lists_stop_before_their_byte_budget_and_refuse_oversize_batches(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100 users x 5,000 contacts would be ~17 MB in one reply; here a 45-byte budget stands in.
    await services.users("alice", "bob", "carol")
    for a, b in (("alice", "bob"), ("bob", "alice"), ("carol", "alice"), ("alice", "carol")):
        await services.accounts.add_contact(a, b)
    monkeypatch.setattr("messaging.accounts.MAX_INTERNAL_REPLY_BYTES", 45)
    assert await services.accounts.presence_watch_lists(["alice", "bob", "carol"]) == {
        "alice": ["bob", "carol"],
        "bob": ["alice"],
    }  # carol is left out: the caller asks again
    assert await services.accounts.presence_watch_lists(["carol"]) == {"carol": ["alice"]}
    with pytest.raises(InvalidArgument):
        await services.accounts.presence_watch_lists([f"u{i}" for i in range(MAX_BATCH_USERS + 1)])


def test_direct_chat_presence_is_shared_only_once_both_sides_opened() -> None:
    peers = [
        DirectPeer("bob", 1, opened_by_me=True, opened_by_peer=False),  # bob never answered
        DirectPeer("carol", 2, opened_by_me=False, opened_by_peer=True),  # carol wrote first
        DirectPeer("dave", 3, opened_by_me=True, opened_by_peer=True),
    ]
    assert presence_visible([], [], peers) == ["dave"]
    assert presence_visible(["bob"], ["bob"], peers) == ["bob", "dave"]  # mutual contacts see anyway
