"""`hubbub chat`'s behaviour: each typed line (a /command or a message) and each pushed event,
on top of ChatClient; names and cursors live in ChatState, wording in chat_view."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from kernel.errors import HubbubError, NotFound
from protos import client_pb2 as pb
from sdk import chat_view as view
from sdk import media_transfer
from sdk.chat_state import ChatState
from sdk.client import ChatClient
from sdk.events import ConnectionChanged, ConnectionState, Event

Write = Callable[[str], None]
Change = Callable[[int], Awaitable[pb.Conversation]]
HISTORY_PAGE = 20
LIST_PAGE = 100


def _now_ms() -> int:
    return int(time.time() * 1000)


class TerminalChat:
    def __init__(
        self, client: ChatClient, write: Write, *, colour: bool = False, now_ms: Callable[[], int] = _now_ms
    ) -> None:
        self.client = client
        self.write = write
        self.colour = colour
        self.now_ms = now_ms
        self.state = ChatState(client.user_id)
        self.pending_peer = ""  # --to PEER that did not exist yet: retried on the next line
        self.closed_detail: str | None = None  # set when the client closed without us asking
        self._listed_for: set[int] = set()  # unknown conversations we refreshed the list for

    @property
    def current(self) -> int:
        return self.state.current

    @current.setter
    def current(self, conversation_id: int) -> None:
        self.state.current = conversation_id

    def label(self, conversation_id: int) -> str:
        return self.state.label(conversation_id)

    # ------------------------------------------------------------------ conversations

    async def conversations(self, *, all_pages: bool = False) -> AsyncIterator[pb.ConversationSummary]:
        """The user's conversations, most recent first (one page unless `all_pages`)."""
        before, before_id = 0, 0
        while True:
            listing = await self.client.list_conversations(
                limit=LIST_PAGE, before_activity_ms=before, before_conversation_id=before_id
            )
            for row in listing.items:
                self.state.learn(row.conversation, sender=row.last_message.sender_id)
                yield row
            if not (all_pages and listing.has_more and listing.items):
                return
            last = listing.items[-1].conversation
            before, before_id = last.last_activity_ms, last.conversation_id

    async def load(self) -> None:
        """Learn the names of the latest conversations (so caught-up messages are named)."""
        async for _ in self.conversations():
            pass

    async def name(self, conversation_id: int, sender: str = "") -> str:
        """The label of a conversation, asking the server once when we do not know it."""
        self._learn_sender(conversation_id, sender)
        if not self.state.is_named(conversation_id) and conversation_id not in self._listed_for:
            self._listed_for.add(conversation_id)
            with contextlib.suppress(HubbubError):
                async for row in self.conversations(all_pages=True):
                    if row.conversation.conversation_id == conversation_id:
                        break
            self._learn_sender(conversation_id, sender)
            if not self.state.is_named(conversation_id) and conversation_id in self.state.known:
                with contextlib.suppress(HubbubError):  # a direct chat we only wrote in: ask history
                    page = await self.client.history(conversation_id, limit=HISTORY_PAGE)
                    others = [m.sender_id for m in page.messages if m.sender_id != self.state.me]
                    self._learn_sender(conversation_id, others[0] if others else "")
        return self.label(conversation_id)

    def _learn_sender(self, conversation_id: int, sender: str) -> None:
        known = self.state.known.get(conversation_id)
        if known is not None and sender:
            self.state.learn(pb.Conversation(conversation_id=conversation_id), sender=sender)

    async def find_group(self, title: str) -> int | None:
        """The most recently active group called `title`, or None."""
        async for row in self.conversations(all_pages=True):
            if row.conversation.kind == pb.CONVERSATION_KIND_GROUP and row.conversation.title == title:
                return row.conversation.conversation_id
        return None

    async def check_member(self, conversation_id: int) -> None:
        """Raises NOT_MEMBER / NOT_FOUND unless we may read (and so write) there."""
        await self.client.history(conversation_id, limit=1)

    # ------------------------------------------------------------------ commands

    async def command(self, line: str) -> bool:
        """Handle one input line; False means quit."""
        line = line.strip()
        if not line:
            return True
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        try:
            if word == "/quit":
                return False
            handler = self._commands().get(word)
            if handler is not None:
                await handler(rest)
            elif word.startswith("/"):
                self.write(f"-- unknown command {word}\n{view.HELP}")
            else:
                await self.say(line)
        except HubbubError as exc:
            self.write(f"! {exc.code.value}: {exc.message}")
        return True

    def _commands(self) -> dict[str, Callable[[str], Awaitable[None]]]:
        return {
            "/help": self._help,
            "/to": self._to,
            "/group": self._group,
            "/switch": self._switch,
            "/history": self._history,
            "/list": self._list,
            "/read": self._read,
            "/add": self._add,
            "/remove": self._remove,
            "/rename": self._rename,
            "/owner": self._owner,
            "/leave": self._leave,
            "/attach": self._attach,
            "/save": self._save,
            "/delete": self._delete,
        }

    async def _delete(self, rest: str) -> None:
        if not rest.isdigit() or not self.current:
            self.write("-- usage: /delete SEQ, in the conversation of your message")
            return
        entry = await self.client.delete_message(self.current, int(rest))
        self.state.note_own(self.current, entry.seq)
        self.write(f"-- deleted #{entry.deletes_seq} for everyone")

    async def _attach(self, rest: str) -> None:
        path, _, caption = rest.partition(" ")
        if not path or not self.current:
            self.write("-- usage: /attach PATH [caption], in a conversation")
            return
        sent = await media_transfer.attach(self.client, self.current, path, caption.strip())
        self.state.note_own(self.current, sent.seq)
        self.write(view.sent_line(sent.seq, sent.duplicate))

    async def _save(self, rest: str) -> None:
        key, _, target = rest.partition(" ")
        if not key or not self.current:
            self.write("-- usage: /save KEY [PATH], in the conversation of the message")
            return
        path, size = await media_transfer.save(self.client, self.current, key, target.strip())
        self.write(f"-- saved {size:,} bytes to {path}")

    async def _help(self, rest: str) -> None:
        self.write(view.HELP)

    async def _to(self, rest: str) -> None:
        if not rest:
            self.write("-- usage: /to USER")
            return
        await self.open_direct(rest.removeprefix("@"))

    async def _group(self, rest: str) -> None:
        title, _, members = rest.rpartition(" ")
        if not title:
            self.write("-- usage: /group TITLE a,b,c")
            return
        ids = [m.strip() for m in members.split(",") if m.strip()]
        conversation = await self.client.create_group(title, ids)
        self.state.learn(conversation)
        self.current = conversation.conversation_id
        self.write(f"-- created {self.label(self.current)} (conversation {self.current}); now talking there")

    async def _switch(self, rest: str) -> None:
        if not rest:
            self.write("-- usage: /switch @USER | TITLE | ID")
            return
        found = self.state.find(rest)
        if not found:
            await self.load()
            found = self.state.find(rest)
        if not found and rest.startswith("@"):
            await self.open_direct(rest[1:])
            return
        if not found and rest.isdigit():
            await self.check_member(int(rest))  # an older conversation, not in the first page
            found = [int(rest)]
        if not found:
            self.write(f"-- no conversation called {rest} (/list shows them)")
            return
        if len(found) > 1:
            ids = ", ".join(str(c) for c in found)
            self.write(f"-- several conversations are called {rest}: {ids}; /switch ID picks one")
            return
        self.current = found[0]
        self.write(f"-- now talking in {self.label(self.current)}")

    async def open_direct(self, peer: str) -> None:
        try:
            conversation = await self.client.open_direct(peer)
        except NotFound:
            self.pending_peer = peer
            self.write(f"-- {peer} has not signed up yet; your first line to them will try again")
            return
        self.pending_peer = ""
        self.state.learn(conversation)
        self.current = conversation.conversation_id
        with contextlib.suppress(HubbubError):  # contacts are who we get presence for
            await self.client.add_contact(peer)
        self.write(f"-- chatting with {self.label(self.current)} (conversation {self.current})")

    async def say(self, text: str) -> None:
        if not self.current and self.pending_peer:
            await self.open_direct(self.pending_peer)
        if not self.current:
            self.write("-- no conversation yet: /to USER or /group TITLE a,b,c (/help lists commands)")
            return
        known = self.state.known.get(self.current)
        if known is not None and known.kind == pb.CONVERSATION_KIND_DIRECT and known.peer:  # opened first
            self.client.note_direct(self.current, known.peer)
        sent = await self.client.send(self.current, text)
        self.state.note_own(self.current, sent.seq)
        self.write(view.sent_line(sent.seq, sent.duplicate))

    async def typing(self, active: bool) -> None:
        if self.current:
            with contextlib.suppress(HubbubError):
                await self.client.typing(self.current, active)

    async def _history(self, rest: str) -> None:
        if not self.current:
            self.write("-- no conversation yet")
            return
        conversation_id = self.current
        older = rest == "older"
        anchor = self.state.oldest_shown.get(conversation_id, 0) if older else 0
        if older and anchor <= 1 and conversation_id in self.state.oldest_shown:
            self.write("-- no older messages")
            return
        page = await self.client.history(conversation_id, anchor_seq=anchor, limit=HISTORY_PAGE)
        label = await self.name(conversation_id)
        for message in page.messages:
            self.write(view.message_line(message, label, self.state.me))
        if page.messages:
            self.state.oldest_shown[conversation_id] = page.messages[0].seq
        if not page.messages:
            self.write("-- no older messages" if older else "-- no messages yet")
        elif page.has_more:
            self.write("-- /history older shows earlier messages")
        else:
            self.write("-- that is the beginning of the conversation")

    async def _list(self, rest: str) -> None:
        rows = [row async for row in self.conversations()]
        for row in rows:
            conversation = row.conversation
            label = self.label(conversation.conversation_id)
            known = self.state.known.get(conversation.conversation_id)
            status = ""
            if known is not None and known.peer and known.peer in self.state.presence:
                presence = self.state.presence[known.peer]
                status = f"  ({view.status_text(presence.online, presence.last_seen_ms, self.now_ms())})"
            last = row.last_message.body[:40] if row.HasField("last_message") else ""
            here = "*" if conversation.conversation_id == self.current else " "
            self.write(
                f" {here} {conversation.conversation_id}: {label}{status}  unread {row.unread}  {last}"
            )
        if not rows:
            self.write("-- no conversations yet")

    async def _read(self, rest: str) -> None:
        seq = self.client.cursor(self.current) if self.current else None
        if seq:
            await self.client.mark_read(self.current, seq)

    # ------------------------------------------------------------------ group commands

    def _current_group(self) -> int | None:
        known = self.state.known.get(self.current)
        if not self.current or known is None or not known.is_group:
            self.write("-- not in a group: /switch to one first")
            return None
        return self.current

    async def _update(self, usage: str, rest: str, change: Change) -> bool:
        group = self._current_group()
        if group is None:
            return False
        if not rest:
            self.write(f"-- usage: {usage}")
            return False
        self.state.learn(await change(group))
        return True

    async def _add(self, rest: str) -> None:
        ids = [m.strip().removeprefix("@") for m in rest.replace(" ", ",").split(",") if m.strip()]
        if await self._update("/add a,b", rest, lambda g: self.client.update_group(g, add_members=ids)):
            self.write(f"-- added {', '.join(ids)} to {self.label(self.current)}")

    async def _remove(self, rest: str) -> None:
        user = rest.removeprefix("@")
        if await self._update(
            "/remove USER", rest, lambda g: self.client.update_group(g, remove_member=user)
        ):
            self.write(f"-- removed {user} from {self.label(self.current)}")

    async def _rename(self, rest: str) -> None:
        if await self._update("/rename TITLE", rest, lambda g: self.client.update_group(g, rename=rest)):
            self.write(f"-- renamed to {self.label(self.current)}")

    async def _owner(self, rest: str) -> None:
        user = rest.removeprefix("@")
        role = (user, pb.ROLE_OWNER)
        if await self._update("/owner USER", rest, lambda g: self.client.update_group(g, set_role=role)):
            self.write(f"-- {user} owns {self.label(self.current)} now")

    async def _leave(self, rest: str) -> None:
        group = self._current_group()
        if group is None:
            return
        label = self.label(group)
        await self.client.update_group(group, remove_member=self.state.me)
        self.current = 0
        self.write(f"-- you left {label}; /switch to another conversation")

    # ------------------------------------------------------------------ events

    async def show(self, event: Event) -> None:
        if isinstance(event, pb.Message):
            await self._show_message(event)
        elif isinstance(event, pb.Receipt):
            if self.state.receipt_news(event):
                label = await self.name(event.conversation_id)
                self.write(view.receipt_line(event, label, colour=self.colour))
        elif isinstance(event, pb.TypingEvent):
            if event.active and event.user_id != self.state.me:
                label = await self.name(event.conversation_id)
                self.write(f"   {event.user_id} is typing… ({label})")
        elif isinstance(event, pb.PresenceEvent):
            if self.state.presence_news(event):
                self.write(view.presence_line(event, self.now_ms()))
        elif isinstance(event, pb.ConversationEvent):
            await self._show_conversation_event(event)
        elif isinstance(event, pb.Error):
            self.write(f"! {event.code}: {event.message}")
        elif isinstance(event, ConnectionChanged):
            if event.state is ConnectionState.DISCONNECTED:
                self.write("-- connection lost; reconnecting…")
            elif event.state is ConnectionState.CLOSED and self.closed_detail is None:
                self.closed_detail = event.detail

    async def _show_message(self, message: pb.Message) -> None:
        if message.sender_id == self.state.me:
            self.state.note_own(message.conversation_id, message.seq)
        label = await self.name(message.conversation_id, message.sender_id)
        self.write(view.message_line(message, label, self.state.me))
        if message.conversation_id == self.current and message.sender_id != self.state.me:
            # On screen = read. Say delivered first, so the sender sees ✓✓ before read.
            with contextlib.suppress(HubbubError):
                await self.client.ack_now()
                await self.client.mark_read(message.conversation_id, message.seq)

    async def _show_conversation_event(self, event: pb.ConversationEvent) -> None:
        conversation_id = event.conversation.conversation_id
        if event.kind == pb.CONVERSATION_EVENT_KIND_CREATED and conversation_id in self.state.known:
            self.state.learn(event.conversation)
            return  # the peer opened a chat we already have (again, or from another device)
        self.state.learn(event.conversation)
        label = self.label(conversation_id)
        removed = event.kind == pb.CONVERSATION_EVENT_KIND_MEMBER_REMOVED
        if removed and self.state.me in event.user_ids:
            if event.actor_id != self.state.me:
                self.write(f"-- {event.actor_id} removed you from {label}")
            if self.current == conversation_id:
                self.current = 0
            return
        if event.kind in (pb.CONVERSATION_EVENT_KIND_CREATED, pb.CONVERSATION_EVENT_KIND_RENAMED):
            self.write(f"-- {label}: {view.event_name(event.kind)} by {event.actor_id}")
        else:
            self.write(view.conversation_event_line(event, label))
        if not self.current and event.kind == pb.CONVERSATION_EVENT_KIND_CREATED:
            # Someone opened a chat with us before we had one: talk there.
            self.current = conversation_id
            self.pending_peer = ""
            self.write(f"-- now talking in {label}")
