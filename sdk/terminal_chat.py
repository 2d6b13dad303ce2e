"""`hubbub chat`: an interactive terminal client on top of ChatClient, to try hubbub from two
terminals (✓ sent / ✓✓ delivered / ✓✓ read, typing, presence and last seen, groups).

This module is the program: arguments, the password, signing in, the start-up target and the
main loop. Commands and events are in chat_commands, wording in chat_view, names and cursors in
chat_state, the keyboard in chat_console."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable

from kernel.errors import Conflict, HubbubError, NotFound, NotMember
from sdk.chat_commands import TerminalChat
from sdk.chat_console import Input, Line, Typing, open_console
from sdk.chat_view import HELP
from sdk.client import ChatClient, ClientOptions
from sdk.connection import Credentials

Write = Callable[[str], None]
DEFAULT_URLS = {"ws": "ws://127.0.0.1:8765", "ws-json": "ws://127.0.0.1:8765", "grpc": "127.0.0.1:8766"}
PASSWORD_ENV = "HUBBUB_PASSWORD"
DISCOVERY_ENV = "HUBBUB_DISCOVERY_TARGET"  # the variable `hubbub admin` reads too
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

EPILOG = f"""\
password: --password, else ${PASSWORD_ENV}, else it is asked for (not echoed) when on a terminal.
The first sign-in with a new user id signs that user up with the password given.

in the chat, {HELP}
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hubbub chat",
        description="chat from a terminal",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--user", required=True, help="your user id (signed up on first use)")
    parser.add_argument("--password", help=f"your password (default: ${PASSWORD_ENV}, else asked for)")
    parser.add_argument(
        "--url",
        help="edge address: a WebSocket URL for ws/ws-json (default ws://127.0.0.1:8765), "
        "host:port for grpc (default 127.0.0.1:8766)",
    )
    parser.add_argument(
        "--discovery",
        default=os.environ.get(DISCOVERY_ENV, ""),
        help=f"discovery's host:port (e.g. 127.0.0.1:8767; default ${DISCOVERY_ENV}): ask it for "
        "the edge (instead of --url), and follow a draining edge's Reconnect to another one",
    )
    parser.add_argument(
        "--transport", choices=["ws", "ws-json", "grpc"], default="ws", help="wire format (default ws)"
    )
    parser.add_argument("--device", help="device id (default: terminal-<user>)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--to", help="open the direct chat with this user")
    target.add_argument("--group", help="talk in this group: a title (found, or created) or an id")
    args = parser.parse_args(argv)
    if args.url is None:
        args.url = "" if args.discovery else DEFAULT_URLS[args.transport]
    return args


def resolve_password(args: argparse.Namespace, *, interactive: bool) -> str | None:
    """--password, else $HUBBUB_PASSWORD, else asked for on a terminal; None if there is none."""
    if args.password:
        return str(args.password)
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if interactive:
        return getpass.getpass(f"password for {args.user}: ") or None
    return None


async def connect(args: argparse.Namespace) -> ChatClient:
    """Sign up, or log in when the user exists already."""
    credentials = Credentials(args.user, args.password)
    device = args.device or f"terminal-{args.user}"
    options = ClientOptions(discovery=args.discovery)
    try:
        return await ChatClient.connect(
            args.url, device_id=device, sign_up=credentials, transport=args.transport, options=options
        )
    except Conflict:
        return await ChatClient.connect(
            args.url, device_id=device, log_in=credentials, transport=args.transport, options=options
        )


async def open_target(chat: TerminalChat, args: argparse.Namespace) -> bool:
    """Go to --to or --group; False (after saying why) when we cannot talk there."""
    if args.to:
        await chat.command(f"/to {args.to}")
        return True
    if not args.group:
        return True
    name = str(args.group)
    group = await chat.find_group(name)
    if group is None and name.isdigit():
        try:
            await chat.check_member(int(name))
        except (NotMember, NotFound) as exc:
            chat.write(f"! you cannot talk in conversation {name}: {exc.code.value}: {exc.message}")
            return False
        group = int(name)
    if group is None:
        conversation = await chat.client.create_group(name, [])
        chat.state.learn(conversation)
        group = conversation.conversation_id
        chat.write(f"-- created the group {name}; /add a,b invites people")
    chat.current = group
    chat.write(f"-- talking in {await chat.name(group)} (conversation {group})")
    return True


async def run(
    args: argparse.Namespace, inputs: AsyncIterator[Input | str], write: Write, *, colour: bool = False
) -> int:
    """The chat until /quit, end of input, or a fatal close; the exit status."""
    if not args.password:
        write(f"! no password: pass --password or set ${PASSWORD_ENV} (or run on a terminal to be asked)")
        return EXIT_USAGE
    try:
        client = await connect(args)
    except HubbubError as exc:
        where = args.url or f"the edge discovery at {args.discovery} names"
        write(f"! cannot connect to {where}: {exc.code.value}: {exc.message}")
        return EXIT_FAILED
    chat = TerminalChat(client, write, colour=colour)

    async def show_events() -> None:
        async for event in client.events():
            await chat.show(event)

    async def read_inputs() -> int:
        try:
            async for item in inputs:
                if isinstance(item, Typing):
                    await chat.typing(item.active)
                elif not await chat.command(item.text if isinstance(item, Line) else item):
                    break
        finally:
            aclose = getattr(inputs, "aclose", None)
            if aclose is not None:  # a terminal gets its mode back at once
                await aclose()
        return EXIT_OK

    printer: asyncio.Task[None] | None = None
    reader: asyncio.Task[int] | None = None
    try:
        with contextlib.suppress(HubbubError):
            await chat.load()  # names for the messages caught up while connecting
        write(f"-- signed in as {client.user_id} on {client.device_id}. /help lists commands, /quit leaves")
        printer = asyncio.create_task(show_events())
        try:
            if not await open_target(chat, args):
                return EXIT_USAGE
        except HubbubError as exc:
            write(f"! {exc.code.value}: {exc.message}")
            return EXIT_FAILED
        reader = asyncio.create_task(read_inputs())
        await asyncio.wait({printer, reader}, return_when=asyncio.FIRST_COMPLETED)
        if reader.done():
            return reader.result()
        printer.result()  # a bug in showing an event surfaces here
        write(f"! the connection is closed for good ({chat.closed_detail or 'closed'}); exiting")
        return EXIT_FAILED
    finally:
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        await client.close()
        if printer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await printer


async def _main(args: argparse.Namespace) -> int:
    with open_console() as console:
        return await run(args, console.inputs(), console.write, colour=console.colour)


def take_ctrl_c() -> None:
    """Ctrl-C leaves the chat, whatever SIGINT disposition we inherited. A process started in
    the background by a shell without job control (a CI runner, `cmd &` in a script) inherits
    SIGINT ignored; Python then installs no KeyboardInterrupt, asyncio.run no cancelling
    handler, and the chat would sit in cbreak mode through every Ctrl-C."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    take_ctrl_c()
    try:
        args.password = resolve_password(args, interactive=sys.stdin.isatty())
        return asyncio.run(_main(args))
    except (KeyboardInterrupt, EOFError):
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
