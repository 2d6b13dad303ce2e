"""The state the in-memory backends share (one node's throwaway data): the directory, the
log and the cursors are views of one `MemoryData`, as the SQLite ones are of one file.

Nothing here awaits while it changes state, so every method runs to completion on the event
loop without interleaving: each call is atomic without a lock, and "durable" means "in this dict".
"""

from __future__ import annotations

from collections import defaultdict

from kernel.partitions import DEFAULT_PARTITIONS
from kernel.push_targets import PushTarget
from messaging.model import (
    Conversation,
    Cursors,
    Member,
    StoredMessage,
    User,
)


class MemoryData:
    def __init__(self, *, partitions: int = DEFAULT_PARTITIONS) -> None:
        self.partitions = partitions
        self._seals: dict[int, int] = {}  # partition -> highest epoch sealed
        self._users: dict[str, User] = {}
        self._contacts: dict[str, set[str]] = defaultdict(set)
        self._contact_of: dict[str, set[str]] = defaultdict(set)
        self._token_generations: dict[str, int] = {}
        self._conversations: dict[int, Conversation] = {}
        self._members: dict[int, dict[str, Member]] = {}
        self._by_user: dict[str, set[int]] = defaultdict(set)
        self._directs: dict[frozenset[str], int] = {}
        self._direct_peers: dict[str, set[str]] = defaultdict(set)
        self._direct_opened: set[tuple[int, str]] = set()  # (direct conversation, who opened it)
        self._messages: dict[int, list[StoredMessage]] = defaultdict(list)
        self._dedupe: dict[tuple[str, str], StoredMessage] = {}
        self._cursors: dict[tuple[str, int], Cursors] = {}
        self._cursors_by_conversation: dict[int, set[str]] = defaultdict(set)
        self._push_targets: dict[str, dict[str, PushTarget]] = defaultdict(dict)  # user -> device ->
        self._push_holders: dict[tuple[str, str], tuple[str, str]] = {}  # (service, token) -> (user, device)

    def _get_cursors(self, user_id: str, conversation_id: int) -> Cursors:
        found = self._cursors.get((user_id, conversation_id))
        return found if found is not None else Cursors(user_id, conversation_id)
