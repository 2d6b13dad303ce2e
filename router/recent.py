"""Recent senders per conversation (a small bounded ring of seq -> sender_id, filled on fan-out),
so a group read receipt goes to the senders of the covered messages and not to 500 members."""

from __future__ import annotations

from collections import OrderedDict, deque

from kernel.partitions import partition_of


class RecentSenders:
    def __init__(self, per_conversation: int = 64, conversations: int = 10_000) -> None:
        self._per_conversation = per_conversation
        self._conversations = conversations
        self._rings: OrderedDict[int, deque[tuple[int, str]]] = OrderedDict()

    def record(self, conversation_id: int, seq: int, sender_id: str) -> None:
        ring = self._rings.get(conversation_id)
        if ring is None:
            ring = self._rings[conversation_id] = deque(maxlen=self._per_conversation)
            if len(self._rings) > self._conversations:
                self._rings.popitem(last=False)
        else:
            self._rings.move_to_end(conversation_id)
        ring.append((seq, sender_id))

    def senders_up_to(self, conversation_id: int, up_to_seq: int) -> set[str]:
        """Senders of the remembered messages with seq <= up_to_seq (older ones are forgotten)."""
        ring = self._rings.get(conversation_id)
        if ring is None:
            return set()
        return {sender for seq, sender in ring if seq <= up_to_seq}

    def pushed_from(self, conversation_id: int, seq: int) -> bool:
        """Whether this router fanned out `seq` or a later one of the conversation since it took
        its partition (as far as the ring remembers): pushing `seq` again now would reach
        members after a later seq."""
        ring = self._rings.get(conversation_id)
        return ring is not None and any(pushed >= seq for pushed, _ in ring)

    def forget_partitions(self, partitions: set[int], partition_count: int) -> None:
        """Drop the rings of every conversation in `partitions` (taken or dropped: another
        owner's messages went by unseen, so the ring would name the wrong senders)."""
        for conversation_id in [c for c in self._rings if partition_of(c, partition_count) in partitions]:
            del self._rings[conversation_id]
