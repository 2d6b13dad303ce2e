"""The terminal client end to end: typed lines go out, incoming messages and receipts print."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from deploy.single_node import SingleNode
from protos import client_pb2 as pb
from sdk.client import ChatClient
from sdk.connection import Credentials
from sdk.terminal_chat import parse_args, run
from tests.sdk.test_client_e2e import TIMEOUT_S, messages, unique


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

    async def lines() -> AsyncIterator[str]:
        while (line := await typed.get()) is not None:
            yield line

    args = parse_args(
        ["--user", alice_id, "--password", "alice-password", "--url", node.ws_url, "--to", bob_id]
    )
    terminal = asyncio.create_task(run(args, lines(), screen.write))
    try:
        await screen.printed(f"chatting with @{bob_id}")
        typed.put_nowait("hello bob\n")
        assert "✓ sent #1" in await screen.printed("✓ sent")
        (got,) = await messages(bob, 1)
        assert (got.sender_id, got.body) == (alice_id, "hello bob")

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

    async def lines() -> AsyncIterator[str]:
        while (line := await typed.get()) is not None:
            yield line

    args = parse_args(
        ["--user", alice_id, "--password", "alice-password", "--url", node.ws_url, "--to", bob_id]
    )
    terminal = asyncio.create_task(run(args, lines(), screen.write))
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
