"""The message log in memory: numbered and deduped by the owner's rules (kernel/log_rules.py),
fenced by the seals of its partitions. Appends move the conversation's last seq and activity
and the sender's own cursors too (one atomic step: nothing awaits)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from kernel import log_rules
from kernel.errors import NotFound, StaleOwner
from kernel.message_log import MissedAsk
from kernel.partitions import partition_of
from messaging.deletion import erased
from messaging.model import (
    AppendOutcome,
    NewMessage,
    StoredMessage,
)
from messaging.store.interface import HistoryDirection
from messaging.store.memory_data import MemoryData
from messaging.store.own_messages import advance_over_own, own_runs
from messaging.store.read_budget import ReadBudget, missed_one_by_one


class MemoryLog(MemoryData):
    # ------------------------------------------------------------------ messages
    async def append(self, messages: Sequence[NewMessage]) -> list[AppendOutcome]:
        conversations = self._conversations
        for new in messages:
            if new.conversation_id not in conversations:
                raise NotFound(f"conversation {new.conversation_id} not found")
        seals, partitions = self._seals, self.partitions
        for new in messages:
            if not log_rules.admits(
                seals.get(partition_of(new.conversation_id, partitions), 0), new.owner_epoch
            ):
                raise StaleOwner("this router no longer owns the conversation's partition")
        dedupe, by_conversation = self._dedupe, self._messages
        numbering = log_rules.number(
            [(new.conversation_id, (new.sender_id, new.client_msg_id)) for new in messages],
            {new.conversation_id: len(by_conversation[new.conversation_id]) for new in messages},
            dedupe,
        )
        outcomes = []
        fresh: list[StoredMessage] = []
        activity: dict[int, int] = {}  # conversation -> latest sent_at_ms of this call
        for new, seq in zip(messages, numbering.seqs, strict=True):
            if seq == 0:
                outcomes.append(AppendOutcome(dedupe[(new.sender_id, new.client_msg_id)], duplicate=True))
                continue
            cid = new.conversation_id
            stored = StoredMessage(
                cid, seq, new.message_id, new.sender_id, new.sender_device,
                new.client_msg_id, new.content_type, new.body, new.payload, new.sent_at_ms, new.media,
                new.deletes_seq,
            )  # fmt: skip
            by_conversation[cid].append(stored)
            dedupe[(new.sender_id, new.client_msg_id)] = stored
            if new.deletes_seq:
                self._erase(cid, new.deletes_seq, seq)
            fresh.append(stored)
            if stored.sent_at_ms > activity.get(cid, -1):
                activity[cid] = stored.sent_at_ms
            outcomes.append(AppendOutcome(stored, duplicate=False))
        for cid, sent_at_ms in activity.items():  # one new Conversation value per conversation
            conversation = conversations[cid]
            conversations[cid] = dataclasses.replace(
                conversation,
                last_seq=numbering.last_seqs[cid],
                last_activity_ms=max(conversation.last_activity_ms, sent_at_ms),
            )
        for run in own_runs(fresh):
            before = self._get_cursors(run.sender_id, run.conversation_id)
            self._cursors[(run.sender_id, run.conversation_id)] = advance_over_own(before, run)
            self._cursors_by_conversation[run.conversation_id].add(run.sender_id)
        return outcomes

    def _erase(self, conversation_id: int, seq: int, by_seq: int) -> None:
        """Keep only the shell of the message at `seq` (messaging/deletion.py), retries included."""
        rows = self._messages[conversation_id]
        if not 0 < seq <= len(rows):
            return
        shell = erased(rows[seq - 1], by_seq)
        rows[seq - 1] = shell
        self._dedupe[(shell.sender_id, shell.client_msg_id)] = shell

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
        messages = self._messages.get(conversation_id, [])
        if limit <= 0:
            return []
        if direction == "before":
            end = len(messages) if anchor_seq <= 0 else min(anchor_seq - 1, len(messages))
            page = ReadBudget(max_bytes).take(reversed(messages[max(0, end - limit) : end]))
            return page if newest_first else page[::-1]
        start = max(0, anchor_seq)
        page = ReadBudget(max_bytes).take(messages[start : start + limit])
        return page[::-1] if newest_first else page

    async def missed_messages(
        self,
        user_id: str,
        since: Mapping[int, int],
        limit: int,
        max_conversations: int,
        max_bytes: int = 0,
        max_pages: int = 0,
    ) -> list[tuple[int, list[StoredMessage]]]:
        budget = ReadBudget(max_bytes, max_pages)
        conversations = [self._conversations[cid] for cid in self._by_user.get(user_id, ())]
        conversations.sort(key=lambda c: (c.last_activity_ms, c.conversation_id), reverse=True)
        missed: list[tuple[int, list[StoredMessage]]] = []
        for conversation in conversations[:max_conversations]:
            cid = conversation.conversation_id
            after = since.get(cid)
            if after is None:
                after = self._get_cursors(user_id, cid).delivered_seq
            messages = self._messages.get(cid, [])
            if limit > 0 and len(messages) > after:
                start = max(0, after)
                missed.append((cid, budget.take(messages[start : start + limit])))
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

    async def last_seq(self, conversation_id: int) -> int:
        return len(self._messages.get(conversation_id, ()))

    async def original(self, sender_id: str, client_msg_id: str) -> StoredMessage | None:
        return self._dedupe.get((sender_id, client_msg_id))

    # ------------------------------------------------------------------- fencing
    async def seal(self, partitions: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        refused: list[tuple[int, int]] = []
        for partition, epoch in partitions:
            sealed, stale = log_rules.seal(self._seals.get(partition, 0), epoch)
            self._seals[partition] = sealed
            if stale:
                refused.append((partition, sealed))
        return refused

    async def sealed_epoch(self, partition: int) -> int:
        return self._seals.get(partition, 0)
