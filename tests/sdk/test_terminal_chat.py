"""The terminal client end to end: typed lines go out, incoming messages and receipts print."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from deploy.single_node import SingleNode
from protos import client_pb2 as pb
from sdk.chat_console import TYPING_REPEAT_S, Line, LineEditor, Typing
from sdk.chat_view import ago, status_text
from sdk.client import ChatClient
from sdk.connection import Credentials
from sdk.terminal_chat import parse_args, resolve_password, run
from tests.sdk.test_client_e2e import TIMEOUT_S, messages, unique


async def typed_lines(typed: asyncio.Queue[str | None]) -> AsyncIterator[str]:
    """What the user types, line by line, until the test puts None."""
    while (line := await typed.get()) is not None:
        yield line


class Screen:
    """Everything the terminal printed; `printed` finds a line whenever it appeared."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = asyncio.Event()

    def write(self, line: str) -> None:
        self.lines.append(line)
        self._changed.set()

    async def printed(self, needle: str) -> str:
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                for line in self.lines:
                    if needle in line:
                        return line
                self._changed.clear()
                await self._changed.wait()


async def test_terminal_chat_sends_typed_lines_and_prints_replies_and_receipts(node: SingleNode) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    bob = await ChatClient.connect(node.ws_url, device_id="b", sign_up=Credentials(bob_id, "bob-password"))
    typed: asyncio.Queue[str | None] = asyncio.Queue()
    screen = Screen()

    args = parse_args(
        ["--user", alice_id, "--password", "alice-password", "--url", node.ws_url, "--to", bob_id]
    )
    terminal = asyncio.create_task(run(args, typed_lines(typed), screen.write))
    try:
        await screen.printed(f"chatting with @{bob_id}")
        typed.put_nowait("hello bob\n")
        assert "✓ sent #1" in await screen.printed("✓ sent")
        (got,) = await messages(bob, 1)
        assert (got.sender_id, got.body) == (alice_id, "hello bob")

        # bob just replies: his client opens the chat first, so they see each other's presence
        await bob.send(got.conversation_id, "hi alice")
        assert (await screen.printed("hi alice")).endswith(f"{bob_id}: hi alice")
        await screen.printed(f"✓✓ delivered to {bob_id} up to #")

        typed.put_nowait("/list\n")
        assert f"@{bob_id}  (online)  unread 0" in await screen.printed("unread")
        typed.put_nowait("/quit\n")
        assert await asyncio.wait_for(terminal, TIMEOUT_S) == 0
        # alice had the reply on screen, so it is marked read for bob to see.
        while True:
            event = await asyncio.wait_for(bob.next_event(), TIMEOUT_S)
            if isinstance(event, pb.Receipt) and event.kind == pb.RECEIPT_KIND_READ and event.up_to_seq == 2:
                break
    finally:
        typed.put_nowait(None)
        await asyncio.wait_for(terminal, TIMEOUT_S)
        await bob.close()


async def test_terminal_chat_logs_in_when_the_user_exists(node: SingleNode) -> None:
    user = unique("dave")
    screen = Screen()

    async def quit_at_once() -> AsyncIterator[str]:
        yield "/quit"

    args = parse_args(["--user", user, "--password", "dave-password", "--url", node.ws_url])
    assert await run(args, quit_at_once(), screen.write) == 0
    assert await run(args, quit_at_once(), screen.write) == 0  # second time: log in
    wrong = parse_args(["--user", user, "--password", "not the password", "--url", node.ws_url])
    assert await run(wrong, quit_at_once(), screen.write) == 1
    assert "UNAUTHENTICATED" in await screen.printed("cannot connect")


async def test_a_peer_who_signs_up_later_is_reached_by_the_first_line(node: SingleNode) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    typed: asyncio.Queue[str | None] = asyncio.Queue()
    screen = Screen()

    args = parse_args(
        ["--user", alice_id, "--password", "alice-password", "--url", node.ws_url, "--to", bob_id]
    )
    terminal = asyncio.create_task(run(args, typed_lines(typed), screen.write))
    try:
        await screen.printed(f"{bob_id} has not signed up yet")
        bob = await ChatClient.connect(
            node.ws_url, device_id="b", sign_up=Credentials(bob_id, "bob-password")
        )
        typed.put_nowait("are you there now?\n")
        await screen.printed("✓ sent #1")
        (got,) = await messages(bob, 1)
        assert (got.sender_id, got.body) == (alice_id, "are you there now?")
        await bob.close()
    finally:
        typed.put_nowait(None)
        async with asyncio.timeout(TIMEOUT_S):
            await terminal


async def test_a_reply_in_a_chat_the_peer_opened_shares_presence(node: SingleNode) -> None:
    """bob opened the chat; alice's terminal answers in it: her first line opens it on her side
    (presence between direct peers needs both to have), so bob sees her online."""
    alice_id, bob_id = unique("alice"), unique("bob")
    bob = await ChatClient.connect(node.ws_url, device_id="b", sign_up=Credentials(bob_id, "bob-password"))
    typed: asyncio.Queue[str | None] = asyncio.Queue()
    screen = Screen()
    args = parse_args(["--user", alice_id, "--password", "alice-password", "--url", node.ws_url])
    terminal = asyncio.create_task(run(args, typed_lines(typed), screen.write))
    try:
        await screen.printed("/help")
        conversation = await bob.open_direct(alice_id)
        await bob.send(conversation.conversation_id, "hello alice")
        await screen.printed("hello alice")
        typed.put_nowait(f"/switch @{bob_id}\n")
        await screen.printed(f"now talking in @{bob_id}")
        typed.put_nowait("hi bob\n")
        await screen.printed("✓ sent #2")
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                event = await bob.next_event()
                if isinstance(event, pb.PresenceEvent) and event.user_id == alice_id:
                    break
        assert event.status == pb.PRESENCE_STATUS_ONLINE
        await bob.close()
    finally:
        typed.put_nowait(None)
        async with asyncio.timeout(TIMEOUT_S):
            await terminal


async def test_without_a_password_off_a_terminal_it_says_how_to_give_one(node: SingleNode) -> None:
    screen = Screen()

    async def no_lines() -> AsyncIterator[str]:
        return
        yield

    args = parse_args(["--user", unique("frank"), "--url", node.ws_url])
    assert resolve_password(args, interactive=False) is None
    assert await run(args, no_lines(), screen.write) == 2
    assert "--password or set $HUBBUB_PASSWORD" in await screen.printed("no password")


def test_the_password_comes_from_the_flag_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBBUB_PASSWORD", "from-the-env")
    assert resolve_password(parse_args(["--user", "a"]), interactive=False) == "from-the-env"
    flagged = parse_args(["--user", "a", "--password", "from-the-flag"])
    assert resolve_password(flagged, interactive=False) == "from-the-flag"


def test_each_transport_defaults_to_its_own_port() -> None:
    assert parse_args(["--user", "a"]).url == "ws://127.0.0.1:8765"
    assert parse_args(["--user", "a", "--transport", "ws-json"]).url == "ws://127.0.0.1:8765"
    assert parse_args(["--user", "a", "--transport", "grpc"]).url == "127.0.0.1:8766"
    assert parse_args(["--user", "a", "--transport", "grpc", "--url", "h:1"]).url == "h:1"


def test_the_line_editor_announces_typing_for_messages_only() -> None:
    editor = LineEditor()
    assert editor.feed("h", now=0.0) == ([Typing()], "h")
    assert editor.feed("i", now=1.0) == ([], "i")
    assert editor.feed("!", now=1.0 + TYPING_REPEAT_S) == ([Typing()], "!")  # still typing
    assert editor.feed("\x7f", now=5.0) == ([], "\b \b")
    assert editor.feed("\r", now=5.0) == ([Line("hi")], "\r\n")
    assert editor.feed("/", now=6.0) == ([], "/")  # a command: nobody is told
    assert editor.feed("x\x15", now=6.0)[0] == []
    editor.feed("yo", now=7.0)
    assert editor.feed("\x15", now=7.0)[0] == [Typing(active=False)]  # erased: stopped
    editor.feed("\x1b[A", now=8.0)  # an arrow key is skipped, not typed
    assert editor.buffer == ""
    editor.feed("\x04", now=8.0)
    assert editor.eof


def test_last_seen_reads_the_way_people_say_it() -> None:
    minute = 60_000
    assert ago(0, 30_000) == "just now"
    assert ago(0, 5 * minute) == "5 min ago"
    assert ago(0, 3 * 60 * minute) == "3 h ago"
    assert ago(0, 3 * 24 * 60 * minute).startswith("on ")
    assert status_text(False, 0, 5 * minute) == "offline"  # never seen since presence started
    assert status_text(False, 1, 5 * minute + 1) == "offline, last seen 5 min ago"


async def test_terminal_chat_goes_through_discovery_when_given_its_address(node: SingleNode) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    bob = await ChatClient.connect(node.ws_url, device_id="b", sign_up=Credentials(bob_id, "bob-password"))
    typed: asyncio.Queue[str | None] = asyncio.Queue()
    screen = Screen()

    argv = ["--user", alice_id, "--password", "alice-password", "--discovery", node.discovery_target]
    args = parse_args([*argv, "--to", bob_id])
    assert args.url == ""  # no edge named: discovery's answer is used
    terminal = asyncio.create_task(run(args, typed_lines(typed), screen.write))
    try:
        await screen.printed(f"chatting with @{bob_id}")
        typed.put_nowait("found you through discovery\n")
        (got,) = await messages(bob, 1)
        assert (got.sender_id, got.body) == (alice_id, "found you through discovery")
        typed.put_nowait("/quit\n")
        assert await asyncio.wait_for(terminal, TIMEOUT_S) == 0
    finally:
        typed.put_nowait(None)
        await asyncio.wait_for(terminal, TIMEOUT_S)
        await bob.close()


async def test_delete_removes_your_message_for_the_peer_and_prints_what_is_left(node: SingleNode) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    bob = await ChatClient.connect(node.ws_url, device_id="b", sign_up=Credentials(bob_id, "bob-password"))
    typed: asyncio.Queue[str | None] = asyncio.Queue()
    screen = Screen()
    args = parse_args(
        ["--user", alice_id, "--password", "alice-password", "--url", node.ws_url, "--to", bob_id]
    )
    terminal = asyncio.create_task(run(args, typed_lines(typed), screen.write))
    try:
        await screen.printed(f"chatting with @{bob_id}")
        typed.put_nowait("a typo\n")
        await screen.printed("✓ sent #1")
        (got,) = await messages(bob, 1)
        await bob.send(got.conversation_id, "what?")
        await screen.printed("what?")
        typed.put_nowait("/delete 2\n")  # bob's: refused, the chat goes on
        assert "PERMISSION_DENIED" in await screen.printed("PERMISSION_DENIED")
        typed.put_nowait("/delete 1\n")
        await screen.printed("-- deleted #1 for everyone")
        (entry,) = await messages(bob, 1)
        assert (entry.seq, entry.deletes_seq) == (3, 1)
        typed.put_nowait("/history\n")
        assert (await screen.printed("#1]")).endswith("you: (This message was deleted)")
        assert "deleted #1" in await screen.printed("#3]")
        typed.put_nowait("/quit\n")
        assert await asyncio.wait_for(terminal, TIMEOUT_S) == 0
    finally:
        typed.put_nowait(None)
        await asyncio.wait_for(terminal, TIMEOUT_S)
        await bob.close()
