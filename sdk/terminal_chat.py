"""`hubbub chat`: an interactive line-based terminal client on top of ChatClient, to try hubbub
from two terminals (messages with ✓ sent / ✓✓ delivered / read, presence, typing, groups)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable

from kernel.errors import Conflict, HubbubError, NotFound
from protos import client_pb2 as pb
from sdk.client import ChatClient
from sdk.connection import Credentials
from sdk.events import ConnectionChanged, ConnectionState, Event

HELP = (
    "commands: /to PEER (direct chat)  /group TITLE a,b,c (new group)  /switch ID  /history  /list  "
    "/read  /quit; any other line is sent to the current conversation"
)
Write = Callable[[str], None]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hubbub chat", description="chat from a terminal")
    parser.add_argument("--user", required=True, help="your user id (signed up on first use)")
    parser.add_argument("--password", help="your password (default: a demo password derived from --user)")
    parser.add_argument(
        "--url", default="ws://127.0.0.1:8765", help="edge WebSocket URL (or host:port for grpc)"
    )
    parser.add_argument("--transport", choices=["ws", "ws-json", "grpc"], default="ws")
    parser.add_argument("--device", help="device id (default: terminal-<user>)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--to", help="open a direct chat with this user")
    target.add_argument("--group", type=int, help="talk in this group (conversation id)")
    return parser.parse_args(argv)


class TerminalChat:
    """The screen state: which conversation lines go to, and how conversations are named."""

    def __init__(self, client: ChatClient, write: Write) -> None:
        self.client = client
        self.write = write
        self.current = 0
        self.labels: dict[int, str] = {}
        self.pending_peer = ""  # --to PEER that did not exist yet: retried on the next line

    def remember(self, conversation: pb.Conversation) -> str:
        if conversation.kind == pb.CONVERSATION_KIND_GROUP:
            label = f"{conversation.title or 'group'} #{conversation.conversation_id}"
        else:
            peers = [m.user_id for m in conversation.members if m.user_id != self.client.user_id]
            if not peers:  # a summary without members: keep what we knew
                return self.label(conversation.conversation_id)
            label = f"@{peers[0]}"
        self.labels[conversation.conversation_id] = label
        return label

    def label(self, conversation_id: int) -> str:
        return self.labels.get(conversation_id, f"#{conversation_id}")

    # ------------------------------------------------------------------ commands

    async def command(self, line: str) -> bool:
        """Handle one input line; False means quit."""
        line = line.strip()
        if not line:
            return True
        word, _, rest = line.partition(" ")
        try:
            if word == "/quit":
                return False
            if word == "/help":
                self.write(HELP)
            elif word == "/to" and rest:
                await self.open_direct(rest.strip())
            elif word == "/group" and rest:
                title, _, members = rest.rpartition(" ")
                ids = [m.strip() for m in members.split(",") if m.strip()]
                conversation = await self.client.create_group(title or "group", ids)
                self.current = conversation.conversation_id
                self.write(f"-- created {self.remember(conversation)}; now talking there")
            elif word == "/switch" and rest.strip().isdigit():
                self.current = int(rest)
                self.write(f"-- now talking in {self.label(self.current)}")
            elif word == "/history":
                await self.history()
            elif word == "/list":
                await self.list_conversations()
            elif word == "/read":
                await self.mark_read()
            elif word.startswith("/"):
                self.write(HELP)
            else:
                await self.say(line)
        except HubbubError as exc:
            self.write(f"! {exc.code.value}: {exc.message}")
        return True

    async def open_direct(self, peer: str) -> None:
        try:
            conversation = await self.client.open_direct(peer)
        except NotFound:
            self.pending_peer = peer
            self.write(f"-- {peer} has not signed up yet; your first line to them will try again")
            return
        self.pending_peer = ""
        self.current = conversation.conversation_id
        with contextlib.suppress(HubbubError):  # contacts are who we get presence for
            await self.client.add_contact(peer)
        self.write(f"-- chatting with {self.remember(conversation)} (conversation {self.current})")

    async def say(self, text: str) -> None:
        if not self.current and self.pending_peer:
            await self.open_direct(self.pending_peer)
        if not self.current:
            self.write("-- no conversation yet: /to PEER or /group TITLE a,b,c")
            return
        sent = await self.client.send(self.current, text)
        self.write(f"   ✓ sent #{sent.seq}{' (again)' if sent.duplicate else ''}")

    async def history(self) -> None:
        if not self.current:
            self.write("-- no conversation yet")
            return
        page = await self.client.history(self.current, limit=20)
        for message in page.messages:
            self.write(self.format_message(message))
        if not page.messages:
            self.write("-- no messages yet")

    async def list_conversations(self) -> None:
        listing = await self.client.list_conversations()
        for row in listing.items:
            label = self.remember(row.conversation)
            last = row.last_message.body[:40] if row.HasField("last_message") else ""
            self.write(f"   {row.conversation.conversation_id}: {label}  unread {row.unread}  {last}")
        if not listing.items:
            self.write("-- no conversations yet")

    async def mark_read(self) -> None:
        seq = self.client.cursor(self.current) if self.current else None
        if seq:
            await self.client.mark_read(self.current, seq)

    # ------------------------------------------------------------------ events

    def format_message(self, message: pb.Message) -> str:
        when = time.strftime("%H:%M", time.localtime(message.sent_at_ms / 1000))
        who = "you" if message.sender_id == self.client.user_id else message.sender_id
        return f"[{when} {self.label(message.conversation_id)} #{message.seq}] {who}: {message.body}"

    async def show(self, event: Event) -> None:
        if isinstance(event, pb.Message):
            self.write(self.format_message(event))
            if event.conversation_id == self.current:  # on screen = read
                with contextlib.suppress(HubbubError):
                    await self.client.mark_read(event.conversation_id, event.seq)
        elif isinstance(event, pb.Receipt):
            if event.user_id != self.client.user_id:
                what = "✓✓ delivered" if event.kind == pb.RECEIPT_KIND_DELIVERED else "✓✓ read"
                where = self.label(event.conversation_id)
                self.write(f"   {what} to {event.user_id} up to #{event.up_to_seq} ({where})")
        elif isinstance(event, pb.TypingEvent):
            if event.active and event.user_id != self.client.user_id:
                self.write(f"   {event.user_id} is typing… ({self.label(event.conversation_id)})")
        elif isinstance(event, pb.PresenceEvent):
            status = "online" if event.status == pb.PRESENCE_STATUS_ONLINE else "offline"
            self.write(f"-- {event.user_id} is {status}")
        elif isinstance(event, pb.ConversationEvent):
            self.write(
                f"-- {self.remember(event.conversation)}: {_event_name(event.kind)} by {event.actor_id}"
            )
            if not self.current and event.kind == pb.CONVERSATION_EVENT_KIND_CREATED:
                # Someone opened a chat with us before we had one: talk there.
                self.current = event.conversation.conversation_id
                self.pending_peer = ""
                self.write(f"-- now talking in {self.label(self.current)}")
        elif isinstance(event, pb.Error):
            self.write(f"! {event.code}: {event.message}")
        elif isinstance(event, ConnectionChanged):
            if event.state is ConnectionState.DISCONNECTED:
                self.write("-- connection lost; reconnecting…")
            elif event.state is ConnectionState.CLOSED:
                self.write(f"-- closed: {event.detail}")


def _event_name(kind: pb.ConversationEventKind.ValueType) -> str:
    return (
        pb.ConversationEventKind.Name(kind).removeprefix("CONVERSATION_EVENT_KIND_").lower().replace("_", " ")
    )


async def connect(args: argparse.Namespace) -> ChatClient:
    """Sign up, or log in when the user exists already."""
    credentials = Credentials(args.user, args.password or f"{args.user}-hubbub-demo")
    device = args.device or f"terminal-{args.user}"
    try:
        return await ChatClient.connect(
            args.url, device_id=device, sign_up=credentials, transport=args.transport
        )
    except Conflict:
        return await ChatClient.connect(
            args.url, device_id=device, log_in=credentials, transport=args.transport
        )


async def run(args: argparse.Namespace, lines: AsyncIterator[str], write: Write) -> int:
    try:
        client = await connect(args)
    except HubbubError as exc:
        write(f"! cannot connect to {args.url}: {exc.code.value}: {exc.message}")
        return 1
    chat = TerminalChat(client, write)
    write(f"-- signed in as {client.user_id} on {client.device_id}. {HELP}")

    async def show_events() -> None:
        async for event in client.events():
            await chat.show(event)

    printer = asyncio.create_task(show_events())
    try:
        if args.to:
            await chat.command(f"/to {args.to}")
        elif args.group:
            chat.current = args.group
        async for line in lines:
            if not await chat.command(line):
                break
    finally:
        await client.close()
        await printer
    return 0


async def stdin_lines() -> AsyncIterator[str]:
    """Lines typed on stdin. A daemon thread reads, so a pipe, a file or a tty all work."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)

    def write(text: str) -> None:
        print(text, flush=True)

    try:
        return asyncio.run(run(args, stdin_lines(), write))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
