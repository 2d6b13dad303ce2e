"""Accounts: sign-up, log-in (issuing the access tokens edges verify), profiles, contacts,
and who sees whose presence. The presence room asks here because it owns no social graph."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kernel.budget import fit_count
from kernel.clock import Clock
from kernel.errors import HubbubError, InvalidArgument, NotFound, Unauthenticated
from kernel.limits import MAX_BATCH_USERS, MAX_INTERNAL_REPLY_BYTES, MAX_PASSWORD_CHARS
from kernel.tokens import issue_token
from messaging import rules
from messaging.auth_throttle import AuthThrottle
from messaging.model import DirectPeer, User
from messaging.passwords import PasswordHasher
from messaging.store.interface import Directory


def _valid_user_id(user_id: str) -> bool:
    try:
        rules.validate_user_id(user_id)
    except HubbubError:
        return False
    return True


def _watch_list_size(user_id: str, watched: list[str]) -> int:
    """A WatchList's encoded size, near enough (each string with its tag and length)."""
    return len(user_id) + 8 + sum(len(u) + 2 for u in watched)


def direct_presence_shared(peer: DirectPeer) -> bool:
    """Direct-chat peers see each other's presence once both sides have opened the chat (the
    peer accepting it, by opening or answering it, docs/protocol.md "Presence"): someone who
    opens a chat with you one-sidedly does not learn when you are online."""
    return peer.opened_by_me and peer.opened_by_peer


def presence_visible(
    contacts: Iterable[str], contact_of: Iterable[str], peers: Iterable[DirectPeer]
) -> list[str]:
    """Who sees a user's presence, and whom the user sees: mutual contacts and direct-chat
    peers who both opened the chat. Adding someone as a contact one-sidedly shows nothing (they
    have not agreed); group co-members are left out on purpose: a 500-member group must not
    hear every flap."""
    mutual = set(contacts).intersection(contact_of)
    return sorted(mutual.union(p.peer_id for p in peers if direct_presence_shared(p)))


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    token: str
    expires_at_ms: int


class Accounts:
    def __init__(
        self,
        store: Directory,
        hasher: PasswordHasher,
        clock: Clock,
        *,
        token_secret: str,
        token_ttl_ms: int,
        throttle: AuthThrottle | None = None,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._clock = clock
        self._token_secret = token_secret
        self._token_ttl_ms = token_ttl_ms
        self.throttle = throttle if throttle is not None else AuthThrottle()  # it has a len: never `or`

    async def sign_up(self, user_id: str, password: str, display_name: str, address: str = "") -> Session:
        """A new account, logged in. Conflict when the id is taken; the display name
        defaults to the user id. `address` (the client's) is throttled before any hashing."""
        rules.validate_user_id(user_id)
        rules.validate_password(password)
        rules.validate_display_name(display_name)
        self.throttle.sign_up(address, self._clock.now_ms())
        password_hash = await self._hasher.hash(password)
        now = self._clock.now_ms()
        await self._store.create_user(User(user_id, display_name or user_id, password_hash, now))
        return self._session(user_id, now, 0)

    async def log_in(self, user_id: str, password: str, address: str = "") -> Session:
        """One error for an unknown user and a wrong password, with the same cost, so log-in
        does not tell which user ids exist. Failures are counted per account and per address
        (`address`, the client's); over either, RATE_LIMITED before any hashing. An id that no
        account can have, or a password longer than any account's, is refused first, the same
        way, with no hashing and no throttle entry (so a key costs at most a valid id)."""
        if not _valid_user_id(user_id) or len(password) > MAX_PASSWORD_CHARS:
            raise Unauthenticated("wrong user id or password")
        self.throttle.before_log_in(user_id, address, self._clock.now_ms())
        user = await self._store.get_user(user_id)
        if user is None:
            await self._hasher.burn(password)
            self.throttle.log_in_failed(user_id, address, self._clock.now_ms())
            raise Unauthenticated("wrong user id or password")
        if not await self._hasher.verify(user.password_hash, password):
            self.throttle.log_in_failed(user_id, address, self._clock.now_ms())
            raise Unauthenticated("wrong user id or password")
        self.throttle.log_in_succeeded(user_id, address)
        generations = await self._store.token_generations([user_id])
        return self._session(user_id, self._clock.now_ms(), generations.get(user_id, 0))

    def _session(self, user_id: str, now_ms: int, generation: int) -> Session:
        token, expires_at_ms = issue_token(
            self._token_secret, user_id, now_ms, self._token_ttl_ms, generation
        )
        return Session(user_id, token, expires_at_ms)

    async def token_generations(self, user_ids: Iterable[str]) -> dict[str, int]:
        """The current token generation of each listed user that exists; ids that are not
        valid user ids are absent, like unknown users (a token for them is refused)."""
        users = list(dict.fromkeys(user_ids))
        if len(users) > MAX_BATCH_USERS:
            raise InvalidArgument(f"at most {MAX_BATCH_USERS} users per token check")
        valid = [u for u in users if _valid_user_id(u)]
        return await self._store.token_generations(valid) if valid else {}

    async def revoke_tokens(self, user_id: str) -> int:
        """Log out everywhere: every token issued to `user_id` so far is refused from now on.
        Returns the new generation (tokens issued from now on carry it)."""
        generation = await self._store.bump_token_generation(user_id)
        if generation is None:
            raise NotFound(f"user {user_id} not found")
        return generation

    async def get_profile(self, user_id: str) -> User:
        user = await self._store.get_user(user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return user

    async def update_profile(self, user_id: str, display_name: str) -> User:
        rules.validate_display_name(display_name)
        user = await self._store.update_display_name(user_id, display_name or user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return user

    async def add_contact(self, owner_id: str, contact_id: str) -> list[str]:
        rules.validate_contact(owner_id, contact_id)
        await self.get_profile(owner_id)
        await self.get_profile(contact_id)
        rules.validate_contact_count(await self._store.list_contacts(owner_id), contact_id)
        await self._store.add_contact(owner_id, contact_id)
        return await self._store.list_contacts(owner_id)

    async def remove_contact(self, owner_id: str, contact_id: str) -> list[str]:
        """Idempotent: removing someone who is not a contact is not an error."""
        await self._store.remove_contact(owner_id, contact_id)
        return await self._store.list_contacts(owner_id)

    async def list_contacts(self, owner_id: str) -> list[str]:
        return await self._store.list_contacts(owner_id)

    async def presence_audience(self, user_id: str) -> list[str]:
        """Who sees `user_id` come and go. Visibility is symmetric (see `presence_visible`), so
        the audience and the watch list are one set."""
        return await self.presence_watch_list(user_id)

    async def presence_watch_list(self, user_id: str) -> list[str]:
        """Whose presence `user_id` sees: mutual contacts and direct peers who both opened."""
        [relations] = await self._store.presence_relations([user_id])
        return presence_visible(relations.contacts, relations.contact_of, relations.direct_peers)

    async def presence_watch_lists(self, user_ids: Iterable[str]) -> dict[str, list[str]]:
        """presence_watch_list of each distinct user, in the order first asked: one store
        round trip for all, so a batch of sessions opening together costs one call and one
        read, not one each. The answer stops before MAX_INTERNAL_REPLY_BYTES (with at least one
        user): the users left out are absent, and the caller asks again for them."""
        users = list(dict.fromkeys(user_ids))
        if len(users) > MAX_BATCH_USERS:
            raise InvalidArgument(f"at most {MAX_BATCH_USERS} users per watch-list call")
        lists = [
            presence_visible(r.contacts, r.contact_of, r.direct_peers)
            for r in await self._store.presence_relations(users)
        ]
        sizes = (_watch_list_size(user, watched) for user, watched in zip(users, lists, strict=True))
        count = fit_count(sizes, MAX_INTERNAL_REPLY_BYTES)
        return dict(zip(users[:count], lists[:count], strict=True))
