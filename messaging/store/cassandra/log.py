"""The message log on Cassandra: the owner's rules (kernel/log_rules.py) over rows.py.

Appends are group-committed and pipelined: each partition has its own lane, and callers that
arrive while their lane's commit runs go together in its next one; the lanes of different
partitions commit concurrently, all within the bridge's in-flight bound. A commit holds the
locks of its conversations and dedupe keys (commit_locks.py), so no two commits number one
conversation or store one key at once. A commit is a round of reads (seals and dedupe keys
together; a conversation's fences only when it is first written at an epoch, else the fences
the last commit read after its write), then the keys, the rows, the fences again, the
cursors. Before a writer of epoch e writes a conversation it has not fenced at e, it
writes the conversation's fence (e, the last seq it read); a stale owner that still writes
(Cassandra has no conditional write to refuse it) stores rows no reader sees. A deletion
entry is written before the message it names is erased, and the erase waits for the fences
read after the write: an entry a newer owner hides erases nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from kernel import log_rules
from kernel.errors import HubbubError, Internal, NotFound, StaleOwner
from kernel.log_rules import Fence
from kernel.message_log import HistoryDirection, MissedAsk
from kernel.partitions import partition_of
from messaging.model import AppendOutcome, NewMessage, StoredMessage
from messaging.store.cassandra import statements as cql
from messaging.store.cassandra.bridge import Bridge
from messaging.store.cassandra.commit_locks import CommitLocks
from messaging.store.cassandra.cursors import CassandraCursors
from messaging.store.cassandra.rows import Rows
from messaging.store.cassandra.statements import Prepared
from messaging.store.interface import LogDirectory
from messaging.store.own_messages import own_runs
from messaging.store.read_budget import ReadBudget, missed_one_by_one

log = logging.getLogger(__name__)

OPEN = 2**62
"""A fence's last seq while its owner has not read the end yet: it hides nothing, but any
writer of an older epoch that sees it after writing stops acking (`_lost_ownership`)."""


V = TypeVar("V")


def _touch(cache: dict[int, V], cids: list[int]) -> None:
    for cid in cids:
        if cid in cache:
            cache[cid] = cache.pop(cid)


def _trim(cache: dict[int, V], limit: int, busy: Callable[[int], bool]) -> None:
    """Drop the oldest entries past `limit`, never a busy one."""
    excess = len(cache) - limit
    if excess <= 0:
        return
    victims: list[int] = []
    for cid in cache:
        if not busy(cid):
            victims.append(cid)
            if len(victims) == excess:
                break
    for cid in victims:
        del cache[cid]


def _stale() -> StaleOwner:
    return StaleOwner("this router no longer owns the conversation's partition")


@dataclass
class _Call:
    messages: Sequence[NewMessage]
    done: asyncio.Future[list[AppendOutcome]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def answer(self, outcomes: list[AppendOutcome]) -> None:
        if not self.done.done():  # a caller that gave up (cancelled) is simply not answered
            self.done.set_result(outcomes)

    def fail(self, error: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(error)


@dataclass
class _Head:
    """What this writer knows of a conversation it writes: the last seq and the epoch it
    fenced the conversation at (0: unfenced)."""

    last_seq: int
    epoch: int


class CassandraLog:
    def __init__(
        self,
        bridge: Bridge,
        prepared: Prepared,
        rows: Rows,
        cursors: CassandraCursors,
        directory: LogDirectory,
        *,
        keyspace: str,
        partitions: int,
        retention: bool = False,
        cache_conversations: int = 100_000,
    ) -> None:
        self._bridge = bridge
        self._prepared = prepared
        self._rows = rows
        self._cursors = cursors
        self._directory = directory
        self._keyspace = keyspace
        self._partitions = partitions
        self._retention = retention
        # Per-conversation caches, least recently committed first, each kept at most
        # `cache_conversations` long (_trim): what is evicted is read again when next written.
        self._cache_conversations = cache_conversations
        self._heads: dict[int, _Head] = {}
        self._known: dict[int, None] = {}  # conversations the directory has (never deleted)
        self._fences: dict[int, list[Fence]] = {}  # as last read by this writer (see _admit)
        self._lanes: dict[int, list[_Call]] = {}  # waiting calls per partition lane
        self._committers: dict[int, asyncio.Task[None]] = {}
        self._locks = CommitLocks()
        self.commits = 0
        """Commits run so far (a measure of how well appends are grouped)."""

    # ------------------------------------------------------------------- append
    async def append(self, messages: Sequence[NewMessage]) -> list[AppendOutcome]:
        if not messages:
            return []
        call = _Call(messages)
        lane = min(partition_of(new.conversation_id, self._partitions) for new in messages)
        self._lanes.setdefault(lane, []).append(call)
        if lane not in self._committers:
            self._committers[lane] = asyncio.get_running_loop().create_task(self._commit_loop(lane))
        return await call.done

    async def _commit_loop(self, lane: int) -> None:
        try:
            while calls := self._lanes.pop(lane, []):
                await self._commit(calls)
                self._trim()
        finally:
            del self._committers[lane]

    async def _commit(self, calls: list[_Call]) -> None:
        self.commits += 1
        names: set[tuple[str, int | str, str]] = set()
        for call in calls:
            for new in call.messages:
                names.add(("conversation", new.conversation_id, ""))
                names.add(("key", new.sender_id, new.client_msg_id))
        try:
            async with self._locks.hold(names):
                admitted, originals = await self._admit(calls)
                await self._write(admitted, originals)
        except BaseException as exc:  # a failed round fails its callers, never the loop
            if isinstance(exc, HubbubError):
                error = exc
            else:
                log.exception("cassandra log: a commit failed")
                error = Internal("message store error")
                error.__cause__ = exc
            for call in calls:
                call.fail(error)
            for call in calls:
                for new in call.messages:
                    self._heads.pop(new.conversation_id, None)  # re-read: some rows may have landed
                    self._fences.pop(new.conversation_id, None)
            if not isinstance(exc, Exception):
                raise

    async def _admit(self, calls: list[_Call]) -> tuple[list[_Call], dict[tuple[str, str], StoredMessage]]:
        """The calls that may write: every conversation known, no item older than its
        partition's seal or its conversation's newest fence. The others fail alone. With them,
        the visible originals of the calls' dedupe keys (read in the same round).

        The seals are read every commit (a new owner may seal from another process). The
        fences are read only for a conversation first written at an epoch here; otherwise the
        ones the last commit read after its write stand in: this check only fails a stale
        writer early, the read after the write (`_lost_ownership`) is what keeps acks visible."""
        cids = list({new.conversation_id for call in calls for new in call.messages})
        self._touch(cids)
        parts = list({partition_of(cid, self._partitions) for cid in cids})
        epochs: dict[int, int] = {}
        for call in calls:
            for new in call.messages:
                epochs[new.conversation_id] = max(epochs.get(new.conversation_id, 0), new.owner_epoch)
        unread = [
            cid
            for cid in cids
            if cid not in self._fences or (h := self._heads.get(cid)) is None or h.epoch != epochs[cid]
        ]
        keys = list({(new.sender_id, new.client_msg_id) for call in calls for new in call.messages})
        _, sealed_epochs, read_fences, found = await asyncio.gather(  # one round of reads
            self._learn({cid for cid in cids if cid not in self._known}),
            asyncio.gather(*(self.sealed_epoch(p) for p in parts)),
            asyncio.gather(*(self._rows.fences(cid) for cid in unread)),
            asyncio.gather(*(self._rows.original(sender, cmid) for sender, cmid in keys)),
        )
        self._fences.update(zip(unread, read_fences, strict=True))
        fence_lists = [self._fences[cid] for cid in cids]
        originals = {key: m for key, m in zip(keys, found, strict=True) if m is not None}
        seals = dict(zip(parts, sealed_epochs, strict=True))
        newest = {
            cid: max((f.epoch for f in fl), default=0) for cid, fl in zip(cids, fence_lists, strict=True)
        }
        for call in calls:  # a writer of an older epoch beside a newer one in this commit is stale too
            for new in call.messages:
                newest[new.conversation_id] = max(newest[new.conversation_id], new.owner_epoch)
        admitted = []
        for call in calls:
            error: HubbubError | None = None
            for new in call.messages:
                cid = new.conversation_id
                if cid not in self._known:
                    error = NotFound(f"conversation {cid} not found")
                    break
                sealed = seals[partition_of(cid, self._partitions)]
                if not log_rules.admits(sealed, new.owner_epoch) or new.owner_epoch < newest[cid]:
                    error = _stale()
                    break
            if error is None:
                admitted.append(call)
            else:
                call.fail(error)
        if await self._fence(admitted, dict(zip(cids, fence_lists, strict=True))):
            # Read again after fencing: a stale owner's row that landed before this writer read
            # the end is visible, and the read above may have missed it (stored twice otherwise).
            found = await asyncio.gather(*(self._rows.original(sender, cmid) for sender, cmid in keys))
            originals = {key: m for key, m in zip(keys, found, strict=True) if m is not None}
        return admitted, originals

    def _touch(self, cids: list[int]) -> None:
        """Move the conversations to the recent end of each cache (they are evicted last)."""
        _touch(self._heads, cids)
        _touch(self._known, cids)
        _touch(self._fences, cids)

    def _trim(self) -> None:
        """Bring each cache back to `cache_conversations` entries, least recently committed
        first, skipping every conversation a commit holds (or waits for) now: a commit reads
        its entries between awaits, so only an entry no lane holds may go. An evicted entry
        costs a read when its conversation is written again (the head: its fences and end)."""

        def busy(cid: int) -> bool:
            return self._locks.held(("conversation", cid, ""))

        _trim(self._heads, self._cache_conversations, busy)
        _trim(self._known, self._cache_conversations, busy)
        _trim(self._fences, self._cache_conversations, busy)

    @property
    def cached_conversations(self) -> int:
        """The most entries any per-conversation cache holds (at most `cache_conversations`
        once no commit runs)."""
        return max(len(self._heads), len(self._known), len(self._fences))

    async def _learn(self, cids: set[int]) -> None:
        found = await asyncio.gather(*(self._directory.get_conversation(cid) for cid in cids))
        self._known.update((c.conversation_id, None) for c in found if c is not None)

    async def _fence(self, calls: list[_Call], fences: Mapping[int, list[Fence]]) -> bool:
        """Load the head of each conversation written at a new epoch, and fence it there first;
        True when any was loaded."""
        epochs: dict[int, int] = {}
        for call in calls:
            for new in call.messages:
                epochs[new.conversation_id] = max(epochs.get(new.conversation_id, 0), new.owner_epoch)
        stale = [
            cid for cid, epoch in epochs.items() if (h := self._heads.get(cid)) is None or h.epoch != epoch
        ]

        async def load(cid: int) -> None:
            epoch, newest = epochs[cid], max((f.epoch for f in fences[cid]), default=0)
            unfinished = any(f.epoch == epoch and f.last_seq == OPEN for f in fences[cid])  # cut short
            if epoch > newest:  # first claim the conversation (hiding nothing), then read its end
                await self._rows.write_fence(cid, Fence(epoch, OPEN))
            last = await self._rows.last_seq(cid, fences[cid], await self._hint(cid))
            if self._retention:  # expired rows say nothing of the end; the directory keeps it
                last = max(last, await self._directory_last_seq(cid))
            if epoch > newest or unfinished:
                await self._rows.write_fence(cid, Fence(epoch, last))
            self._fences.pop(cid, None)  # changed here: read again by the next commit
            self._heads[cid] = _Head(last, epoch)

        await asyncio.gather(*(load(cid) for cid in stale))
        return bool(stale)

    async def _write(self, calls: list[_Call], originals: dict[tuple[str, str], StoredMessage]) -> None:
        items = [new for call in calls for new in call.messages]
        if not items:
            return
        numbering = log_rules.number(
            [(new.conversation_id, (new.sender_id, new.client_msg_id)) for new in items],
            {new.conversation_id: self._heads[new.conversation_id].last_seq for new in items},
            originals,
        )
        fresh = [(new, seq, new.owner_epoch) for new, seq in zip(items, numbering.seqs, strict=True) if seq]
        await self._rows.write_keys(fresh)
        await self._rows.write_rows(fresh)
        lost = await self._lost_ownership(calls)
        repeated = [  # a deletion's retry: its entry stands, and its erase may not have landed
            originals[key]
            for new, seq in zip(items, numbering.seqs, strict=True)
            if not seq and (key := (new.sender_id, new.client_msg_id)) in originals and new.deletes_seq
        ]
        await self._erase_deleted([(new, seq) for new, seq, _ in fresh if new.deletes_seq], repeated, lost)
        stored = {
            (new.sender_id, new.client_msg_id): StoredMessage(
                new.conversation_id, seq, new.message_id, new.sender_id, new.sender_device,
                new.client_msg_id, new.content_type, new.body, new.payload, new.sent_at_ms, new.media,
                new.deletes_seq,
            )
            for new, seq, _ in fresh
        }  # fmt: skip
        await self._after_write(
            [m for m in stored.values() if m.conversation_id not in lost],
            [m for m in originals.values() if m.conversation_id not in lost],
        )
        for cid, last in numbering.last_seqs.items():
            if cid in lost:
                self._heads.pop(cid, None)
            else:
                self._heads[cid].last_seq = last
        seqs, answers = iter(numbering.seqs), stored | originals
        for call in calls:
            mine = [next(seqs) for _ in call.messages]
            if any(new.conversation_id in lost for new in call.messages):
                call.fail(_stale())
                continue
            call.answer(
                [
                    AppendOutcome(answers[(new.sender_id, new.client_msg_id)], duplicate=seq == 0)
                    for new, seq in zip(call.messages, mine, strict=True)
                ]
            )

    async def _erase_deleted(
        self, deletions: list[tuple[NewMessage, int]], repeated: list[StoredMessage], lost: set[int]
    ) -> None:
        """Erase the messages named by the deletion entries this commit wrote (and by those its
        retries found), after the entries landed and the fences were read again: an erase is
        never done for an entry a newer owner hides. Where one fenced the conversation during
        the commit, an entry it read as history (a fence past its seq) is visible for good,
        so its message is erased; one it may hide or has not decided on (its fence still
        OPEN) erases nothing, and the edge's reroute of the refused deletion completes it
        through the new owner (its repeat: `repeated`). A crash between the entry and the
        erase is healed the same way, by the deletion's retry."""
        erase: list[tuple[int, int, int]] = [  # (conversation, seq to erase, entry's seq)
            (m.conversation_id, m.deletes_seq, m.seq) for m in repeated if m.conversation_id not in lost
        ]
        for new, seq in deletions:
            cid = new.conversation_id
            if cid not in lost or await self._entry_stands(new, seq):
                erase.append((cid, new.deletes_seq, seq))
        if erase:
            await asyncio.gather(
                *(self._rows.erase(cid, target, by, self._fences.get(cid, [])) for cid, target, by in erase)
            )

    async def _entry_stands(self, entry: NewMessage, seq: int) -> bool:
        """Whether this writer's `entry` at `seq` is what every reader sees there for good: the
        visible row under the fences `_lost_ownership` read, none of them still OPEN (a newer
        owner that has not read the end yet could still hide it)."""
        fences = self._fences.get(entry.conversation_id, [])
        if any(f.epoch > entry.owner_epoch and f.last_seq == OPEN for f in fences):
            return False
        found = await self._rows.at(entry.conversation_id, seq, fences)
        return found is not None and found.message_id == entry.message_id

    async def _lost_ownership(self, calls: list[_Call]) -> set[int]:
        """Conversations a newer owner fenced while this commit wrote them: its rows there may
        be hidden, so none of them is acked (a retry through the new owner finds any that are
        visible). A new owner fences before it reads the end, so an ack here is never hidden."""
        epochs: dict[int, int] = {}
        for call in calls:
            for new in call.messages:
                epochs[new.conversation_id] = new.owner_epoch
        cids = list(epochs)
        fence_lists = await asyncio.gather(*(self._rows.fences(cid) for cid in cids))
        self._fences.update(zip(cids, fence_lists, strict=True))  # the next commit's check
        return {
            cid
            for cid, fences in zip(cids, fence_lists, strict=True)
            if any(f.epoch > epochs[cid] for f in fences)
        }

    async def _after_write(self, fresh: list[StoredMessage], retried: list[StoredMessage]) -> None:
        """Your own messages are never unread (own_messages.py); the directory learns the new ends.
        A retry's original counts too: its first commit may have stored the rows and failed to
        raise the ends (a RecordAppends that did not come back), and the retry is what heals it
        (raising never lowers, so it costs nothing when they were raised)."""
        heads: dict[int, tuple[int, int]] = {}
        for m in (*fresh, *retried):
            last, activity = heads.get(m.conversation_id, (0, 0))
            heads[m.conversation_id] = (max(last, m.seq), max(activity, m.sent_at_ms))
        await asyncio.gather(
            self._cursors.advance_over_own(own_runs(fresh)), self._directory.record_appends(heads)
        )

    # -------------------------------------------------------------------- reads
    async def _hint(self, conversation_id: int) -> int:
        """Where to look for the end: this writer's last seq, else the directory's (neither
        is ever past the log's acked end)."""
        head = self._heads.get(conversation_id)
        if head is not None:
            return head.last_seq
        return await self._directory_last_seq(conversation_id)

    async def _directory_last_seq(self, conversation_id: int) -> int:
        conversation = await self._directory.get_conversation(conversation_id)
        return 0 if conversation is None else conversation.last_seq

    async def original(self, sender_id: str, client_msg_id: str) -> StoredMessage | None:
        return await self._rows.original(sender_id, client_msg_id)

    async def last_seq(self, conversation_id: int) -> int:
        fences = await self._rows.fences(conversation_id)
        return await self._rows.last_seq(conversation_id, fences, await self._hint(conversation_id))

    async def history(
        self,
        conversation_id: int,
        *,
        anchor_seq: int,
        direction: HistoryDirection,
        limit: int,
        newest_first: bool,
        max_bytes: int = 0,
    ) -> list[StoredMessage]:
        if limit <= 0:
            return []
        fences = await self._rows.fences(conversation_id)
        top = await self._rows.top_bucket(conversation_id, await self._hint(conversation_id))
        anchor = anchor_seq
        if direction == "before" and anchor_seq <= 0:
            anchor = (top + 1) * self._rows.bucket_seqs
        rows = await self._rows.read(conversation_id, fences, direction, anchor, limit, top_bucket=top)
        page = ReadBudget(max_bytes).take(rows)
        nearest_first_is_newest = direction == "before"
        return page if newest_first == nearest_first_is_newest else page[::-1]

    async def missed_messages(
        self,
        user_id: str,
        since: Mapping[int, int],
        limit: int,
        max_conversations: int,
        max_bytes: int = 0,
        max_pages: int = 0,
    ) -> list[tuple[int, list[StoredMessage]]]:
        if limit <= 0 or max_conversations <= 0:
            return []
        budget = ReadBudget(max_bytes, max_pages)
        listed = await self._directory.list_conversations(user_id, max_conversations)
        missed: list[tuple[int, list[StoredMessage]]] = []
        for summary in listed:
            conversation = summary.conversation
            cid = conversation.conversation_id
            after = since.get(cid)
            if after is None:
                after = (await self._cursors.get_cursors(user_id, cid)).delivered_seq
            if conversation.last_seq <= after:
                continue
            if budget.done:
                missed.append((cid, []))
                continue
            fences = await self._rows.fences(cid)
            top = self._rows.bucket_of(conversation.last_seq)
            rows = await self._rows.read(cid, fences, "after", after, limit, top_bucket=top)
            found = budget.take(rows)
            if found:
                missed.append((cid, found))
        return missed

    async def missed_messages_many(
        self,
        asks: Sequence[MissedAsk],
        max_conversations: int,
        max_bytes: int = 0,
        max_pages: int = 0,
        max_total_bytes: int = 0,
    ) -> list[list[tuple[int, list[StoredMessage]]]]:
        return await missed_one_by_one(
            self.missed_messages, asks, max_conversations, max_bytes, max_pages, max_total_bytes
        )

    # ------------------------------------------------------------------ fencing
    async def seal(self, partitions: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        current = await asyncio.gather(*(self.sealed_epoch(p) for p, _ in partitions))
        refused: list[tuple[int, int]] = []
        raise_to: list[tuple[int, int]] = []
        for (partition, epoch), sealed in zip(partitions, current, strict=True):
            new, stale = log_rules.seal(sealed, epoch)
            if stale:
                refused.append((partition, sealed))
            elif new > sealed:
                raise_to.append((partition, new))
        statement = await self._prepared.get(cql.insert_seal(self._keyspace))
        await self._bridge.execute_all((statement, pair) for pair in raise_to)
        return refused

    async def sealed_epoch(self, partition: int) -> int:
        statement = await self._prepared.get(cql.select_seal(self._keyspace))
        rows = await self._bridge.execute(statement, (partition,))
        return int(rows[0].epoch) if rows else 0
