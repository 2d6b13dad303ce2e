"""Which conversations are direct chats, with whom, and whether this client has opened each:
since SQLite migration 6 direct peers see each other's presence only once both sides opened
the chat (OpenDirect), so the first reply in a chat the other side opened must open it first."""

from __future__ import annotations

from protos import client_pb2 as pb


class DirectChats:
    def __init__(self) -> None:
        self._peers: dict[int, str] = {}  # direct conversation -> the other member
        self._opened: set[int] = set()  # opened by this client (idempotent on the server)

    def learn(self, conversation: pb.Conversation, me: str, *, sender: str = "") -> None:
        """What a conversation tells: its kind and members (a listing's row may carry no
        members: then `sender`, its last message's, names the peer when it is not us)."""
        if conversation.kind != pb.CONVERSATION_KIND_DIRECT:
            return
        peers = [m.user_id for m in conversation.members if m.user_id != me]
        peer = peers[0] if peers else (sender if sender != me else "")
        if peer:
            self._peers.setdefault(conversation.conversation_id, peer)

    def note(self, conversation_id: int, peer_id: str) -> None:
        """The app knows `conversation_id` to be the direct chat with `peer_id`."""
        self._peers.setdefault(conversation_id, peer_id)

    def opened(self, conversation: pb.Conversation, me: str) -> None:
        self.learn(conversation, me)
        self._opened.add(conversation.conversation_id)

    def peer_to_open(self, conversation_id: int) -> str:
        """The peer to open the chat with before sending in it; "" when there is nothing to do
        (not a direct chat this client knows of, or already opened)."""
        if conversation_id in self._opened:
            return ""
        return self._peers.get(conversation_id, "")
