"""Message rows in Cassandra: the (conversation, bucket) partitions, reads that walk buckets
transparently, and what every reader sees of them (kernel/log_rules.visible).

A conversation's seq s lives in bucket s // bucket_seqs; the seqs are gap-free, so buckets
fill one after another and a range read walks to the next bucket only when one runs out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from kernel import log_rules
from kernel.log_rules import Fence
from kernel.message_log import HistoryDirection
from messaging.deletion import erased
from messaging.model import NewMessage, StoredMessage
from messaging.store.cassandra import statements as cql
from messaging.store.cassandra.bridge import Bridge
from messaging.store.cassandra.statements import Prepared

_SLACK = 8
"""Rows read past a page's limit: other epochs' rows at the same seqs, hidden ones."""


class LogRow(NamedTuple):
    """One stored row: the message and the epoch of its writer (`log_rules.Versioned`)."""

    seq: int
    epoch: int
    message: StoredMessage


def row_from(raw: Any) -> LogRow:
    message = StoredMessage(
        raw.conversation_id, raw.seq, raw.message_id, raw.sender_id, raw.sender_device,
        raw.client_msg_id, raw.content_type or "", raw.body or "", bytes(raw.payload or b""), raw.sent_at_ms,
        bytes(raw.media or b""), raw.deletes_seq or 0, raw.deleted_by_seq or 0,
    )  # fmt: skip
    return LogRow(raw.seq, raw.epoch, message)


class Rows:
    """Reads and writes of one keyspace's message rows, fences and dedupe keys."""

    def __init__(
        self,
        bridge: Bridge,
        prepared: Prepared,
        keyspace: str,
        *,
        bucket_seqs: int,
        ttl_s: int,
        key_ttl_s: int,
    ) -> None:
        self._bridge = bridge
        self._prepared = prepared
        self._keyspace = keyspace
        self.bucket_seqs = bucket_seqs
        self._ttl_s = ttl_s
        self._key_ttl_s = key_ttl_s

    def bucket_of(self, seq: int) -> int:
        return max(0, seq) // self.bucket_seqs

    async def _run(self, cql_text: str, params: Sequence[Any]) -> list[Any]:
        return await self._bridge.execute(await self._prepared.get(cql_text), params)

    # ------------------------------------------------------------------- writes
    async def write_keys(self, rows: Sequence[tuple[NewMessage, int, int]]) -> None:
        """The dedupe keys of (message, seq, epoch) rows: written before the rows, so a stored
        row always has its key (a key without its row counts for nothing: see `original`)."""
        params = [
            (new.sender_id, new.client_msg_id, new.conversation_id, seq, epoch) for new, seq, epoch in rows
        ]
        await self._write_batches(cql.insert_key(self._keyspace, self._key_ttl_s), [params])

    async def write_rows(self, rows: Sequence[tuple[NewMessage, int, int]]) -> None:
        """The rows, batched per (conversation, bucket) partition: each batch one mutation."""
        partitions: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
        for new, seq, epoch in rows:
            key = (new.conversation_id, self.bucket_of(seq))
            partitions.setdefault(key, []).append(self._row_params(new, seq, epoch))
        await self._write_batches(cql.insert_message(self._keyspace, self._ttl_s), list(partitions.values()))

    async def _write_batches(self, insert: str, groups: Sequence[Sequence[tuple[Any, ...]]]) -> None:
        """Each group's inserts in unlogged batches (statements.batch_chunks), all concurrently
        within the bridge's bound; returns once every one is acknowledged."""
        calls: list[tuple[Any, tuple[Any, ...]]] = []
        for group in groups:
            start = 0
            for size in cql.batch_chunks(len(group)):
                statement = await self._prepared.get(cql.unlogged_batch(insert, size))
                calls.append((statement, tuple(v for params in group[start : start + size] for v in params)))
                start += size
        await self._bridge.execute_all(calls)

    def _row_params(self, new: NewMessage, seq: int, epoch: int) -> tuple[Any, ...]:
        return (
            new.conversation_id, self.bucket_of(seq), seq, epoch, new.message_id, new.sender_id,
            new.sender_device, new.client_msg_id, new.content_type, new.body, new.payload, new.sent_at_ms,
            new.media, new.deletes_seq, new.deleted_by_seq,
        )  # fmt: skip

    async def erase(self, conversation_id: int, seq: int, by_seq: int, fences: Sequence[Fence]) -> None:
        """Overwrite the visible row at `seq` with its erased shell (messaging/deletion.py), at
        its own key (the same epoch): what every reader sees of it from now on has no content."""
        raw = await self._run(cql.select_at(self._keyspace), (conversation_id, self.bucket_of(seq), seq))
        for row in log_rules.visible([row_from(r) for r in raw], fences):
            if row.message.deleted_by_seq == by_seq:
                continue  # erased already (a deletion's retry)
            shell = erased(row.message, by_seq)
            new = NewMessage(
                shell.conversation_id, shell.sender_id, shell.sender_device, shell.client_msg_id,
                shell.content_type, shell.body, shell.payload, shell.message_id, shell.sent_at_ms,
                row.epoch, shell.media, shell.deletes_seq, shell.deleted_by_seq,
            )  # fmt: skip
            await self.write_rows([(new, seq, row.epoch)])

    async def write_fence(self, conversation_id: int, fence: Fence) -> None:
        await self._run(cql.insert_fence(self._keyspace), (conversation_id, fence.epoch, fence.last_seq))

    # -------------------------------------------------------------------- reads
    async def fences(self, conversation_id: int) -> list[Fence]:
        rows = await self._run(cql.select_fences(self._keyspace), (conversation_id,))
        return [Fence(r.epoch, r.last_seq) for r in rows]

    async def _bucket_has_rows(self, conversation_id: int, bucket: int) -> bool:
        rows = await self._run(cql.select_rows(self._keyspace, "after", 1), (conversation_id, bucket, -1))
        return bool(rows)

    async def top_bucket(self, conversation_id: int, hint_seq: int) -> int:
        """The highest bucket holding rows, searched upward from the hint's bucket (the owner's
        or the directory's last seq, which is never ahead of the log's acked messages)."""
        bucket = self.bucket_of(hint_seq)
        while await self._bucket_has_rows(conversation_id, bucket + 1):
            bucket += 1
        return bucket

    async def last_seq(self, conversation_id: int, fences: Sequence[Fence], hint_seq: int) -> int:
        """The highest visible seq (0 when none)."""
        top = await self.top_bucket(conversation_id, hint_seq)
        anchor = (top + 1) * self.bucket_seqs
        newest = await self.read(conversation_id, fences, "before", anchor, 1, top_bucket=top)
        return newest[0].seq if newest else 0

    async def read(
        self,
        conversation_id: int,
        fences: Sequence[Fence],
        direction: HistoryDirection,
        anchor: int,
        limit: int,
        *,
        top_bucket: int,
    ) -> list[StoredMessage]:
        """Up to `limit` visible messages beyond `anchor` (exclusive) in `direction`, nearest
        first, walking buckets (down to 0, or up to `top_bucket`)."""
        found: list[StoredMessage] = []
        before = direction == "before"
        bucket = min(self.bucket_of(anchor - 1), top_bucket) if before else self.bucket_of(anchor + 1)
        bound = anchor
        page = limit + _SLACK
        while len(found) < limit and 0 <= bucket <= top_bucket:
            text = cql.select_rows(self._keyspace, direction, page)
            raw = await self._run(text, (conversation_id, bucket, bound))
            rows = [row_from(r) for r in raw]
            if len(rows) == page:  # the page may end inside one seq's rows: leave that seq for the next
                cut = rows[-1].seq
                rows = [r for r in rows if r.seq != cut]
                if not rows:
                    page *= 2
                    continue
                bound = cut + 1 if before else cut - 1
            else:
                bucket += -1 if before else 1
                bound = (bucket + 1) * self.bucket_seqs if before else bucket * self.bucket_seqs - 1
            winners = log_rules.visible(rows, fences)
            found.extend(row.message for row in (reversed(winners) if before else winners))
        return found[:limit]

    async def at(self, conversation_id: int, seq: int, fences: Sequence[Fence]) -> StoredMessage | None:
        """The visible message at `seq`, if any."""
        raw = await self._run(cql.select_at(self._keyspace), (conversation_id, self.bucket_of(seq), seq))
        winners = log_rules.visible([row_from(r) for r in raw], fences)
        return winners[0].message if winners else None

    async def original(self, sender_id: str, client_msg_id: str) -> StoredMessage | None:
        """The visible message stored under (sender, client_msg_id), if any: a key counts only
        when the message its row holds is the visible one at that seq (a stale owner's hidden
        row, or a row that never landed, does not)."""
        keys = await self._run(cql.select_keys(self._keyspace), (sender_id, client_msg_id))
        for key in keys:
            message = await self.at(key.conversation_id, key.seq, await self.fences(key.conversation_id))
            if message is not None and (message.sender_id, message.client_msg_id) == (
                sender_id,
                client_msg_id,
            ):
                return message
        return None
