"""What `hubbub chat` remembers between lines: how each conversation is named, where lines go,
how far back `/history` has paged, which ticks were shown, who is online. Pure: no I/O."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from protos import client_pb2 as pb


@dataclass
class Known:
    """One conversation as far as we know it: its kind, title and (for direct chats) the peer."""

    kind: pb.ConversationKind.ValueType
    title: str = ""
    peer: str = ""

    @property
    def is_group(self) -> bool:
        return self.kind == pb.CONVERSATION_KIND_GROUP


@dataclass
class Presence:
    online: bool
    last_seen_ms: int


@dataclass
class ChatState:
    me: str
    current: int = 0
    known: dict[int, Known] = field(default_factory=dict)
    oldest_shown: dict[int, int] = field(default_factory=dict)  # conversation -> lowest seq paged
    own_seqs: dict[int, list[int]] = field(default_factory=dict)  # seqs of our own messages
    ticks: dict[tuple[int, str, int], int] = field(default_factory=dict)  # (conv, user, kind) -> seq
    presence: dict[str, Presence] = field(default_factory=dict)

    # ------------------------------------------------------------------ names

    def learn(self, conversation: pb.Conversation, *, sender: str = "") -> Known:
        """Record what `conversation` tells (a summary without members keeps the peer we knew);
        `sender` of a message in a direct chat names the peer when it is not us."""
        known = self.known.get(conversation.conversation_id)
        if known is None:
            known = self.known[conversation.conversation_id] = Known(conversation.kind)
        if conversation.kind:
            known.kind = conversation.kind
        if conversation.title:
            known.title = conversation.title
        peers = [m.user_id for m in conversation.members if m.user_id != self.me]
        if not known.is_group and peers:
            known.peer = peers[0]
        if not known.is_group and not known.peer and sender and sender != self.me:
            known.peer = sender
        return known

    def label(self, conversation_id: int) -> str:
        known = self.known.get(conversation_id)
        if known is None:
            return f"#{conversation_id}"
        if known.is_group:
            return known.title or f"group #{conversation_id}"
        return f"@{known.peer}" if known.peer else f"direct #{conversation_id}"

    def is_named(self, conversation_id: int) -> bool:
        return not self.label(conversation_id).startswith(("#", "direct #"))

    def find(self, name: str) -> list[int]:
        """Conversations called `name`: `@user` (a direct chat), a group title, or an id."""
        name = name.strip()
        if name.startswith("@"):
            peer = name[1:]
            return [c for c, k in self.known.items() if not k.is_group and k.peer == peer]
        titled = [c for c, k in self.known.items() if k.is_group and k.title == name]
        if titled:
            return titled
        if name.isdigit() and int(name) in self.known:
            return [int(name)]
        return []

    # ------------------------------------------------------------------ ticks

    def note_own(self, conversation_id: int, seq: int) -> None:
        seqs = self.own_seqs.setdefault(conversation_id, [])
        index = bisect.bisect_left(seqs, seq)
        if index == len(seqs) or seqs[index] != seq:
            seqs.insert(index, seq)

    def receipt_news(self, receipt: pb.Receipt) -> bool:
        """True when the receipt moves one of our messages on (sent → delivered → read) for
        that user: delivered after read, or a receipt covering none of ours, is no news."""
        if receipt.user_id == self.me:
            return False
        conv, user = receipt.conversation_id, receipt.user_id
        read = self.ticks.get((conv, user, pb.RECEIPT_KIND_READ), 0)
        key = (conv, user, receipt.kind)
        before = max(self.ticks.get(key, 0), read)
        if receipt.up_to_seq <= before:
            return False
        self.ticks[key] = receipt.up_to_seq
        seqs = self.own_seqs.get(conv, [])
        return bisect.bisect_right(seqs, receipt.up_to_seq) > bisect.bisect_right(seqs, before)

    # ------------------------------------------------------------------ presence

    def presence_news(self, event: pb.PresenceEvent) -> bool:
        """True when the status changed: the snapshot after connecting and the answer to adding
        a contact repeat what we were told already."""
        now = Presence(event.status == pb.PRESENCE_STATUS_ONLINE, event.last_seen_ms)
        before = self.presence.get(event.user_id)
        self.presence[event.user_id] = now
        return before is None or before.online != now.online
