"""`hubbub chat` driven in a pseudo-terminal against a real node: what a user sees and types."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from deploy.single_node import SingleNode, start_single_node
from sdk.client import ChatClient
from sdk.connection import Credentials
from tests.sdk.conftest import node_config
from tests.sdk.pty_terminal import Terminal
from tests.sdk.test_client_e2e import messages, unique

Open = Callable[..., Terminal]
READ = "\x1b[34m✓✓ read\x1b[0m"  # blue on a terminal


@pytest.fixture
def terminal() -> Iterator[Open]:
    """Opens terminals; whatever is still running at the end is killed."""
    opened: list[Terminal] = []

    def open_terminal(*args: str, **kwargs: object) -> Terminal:
        term = Terminal(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(term)
        return term

    yield open_terminal
    for term in opened:
        term.kill()


def chat_args(node: SingleNode, user: str, *args: str) -> tuple[str, ...]:
    return ("--user", user, "--password", f"{user}-password", "--url", node.ws_url, *args)


async def signed_up(node: SingleNode, user: str) -> ChatClient:
    return await ChatClient.connect(
        node.ws_url, device_id=f"sdk-{user}", sign_up=Credentials(user, f"{user}-password")
    )


async def test_typing_is_shown_and_ticks_go_sent_delivered_read(node: SingleNode, terminal: Open) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    bob = terminal(*chat_args(node, bob_id))
    await bob.expect(f"signed in as {bob_id}")
    alice = terminal(*chat_args(node, alice_id, "--to", bob_id))
    await alice.expect(f"chatting with @{bob_id}")
    await bob.expect(f"now talking in @{alice_id}")

    bob.type("hel")  # no Enter yet
    await alice.expect(f"{bob_id} is typing… (@{bob_id})")
    bob.type("\x15")  # Ctrl-U: erased

    alice.line("hi bob")
    await alice.expect("✓ sent #1")
    await bob.expect(f"@{alice_id} #1] {alice_id}: hi bob")
    # bob has it on screen: delivered, then read, each shown apart.
    await alice.expect(f"✓✓ delivered to {bob_id} up to #1")
    await alice.expect(f"{READ} by {bob_id} up to #1")

    # bob looks elsewhere: the next message is delivered but stays unread until he reads it.
    bob.line("/group elsewhere")
    await bob.expect("usage: /group TITLE a,b,c")
    bob.line(f"/group elsewhere {alice_id}")
    await bob.expect("now talking there")
    alice.line("are you there?")
    await alice.expect("✓ sent #2")
    await bob.expect(f"{alice_id}: are you there?")
    assert "✓✓ read" not in await alice.expect(f"✓✓ delivered to {bob_id} up to #2")
    bob.line(f"/switch @{alice_id}")
    await bob.expect(f"now talking in @{alice_id}")
    bob.line("/read")
    await alice.expect(f"{READ} by {bob_id} up to #2")

    alice.line("/quit")
    bob.line("/quit")
    assert await alice.exit_status() == 0
    assert await bob.exit_status() == 0


async def test_presence_is_told_once_and_offline_says_when_last_seen(
    node: SingleNode, terminal: Open
) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    bob = terminal(*chat_args(node, bob_id))
    await bob.expect(f"signed in as {bob_id}")
    alice = terminal(*chat_args(node, alice_id, "--to", bob_id))
    await alice.expect(f"chatting with @{bob_id}")
    # bob has not answered: alice is not told his status. His phone opens the chat: accepted.
    bob_phone = terminal(*chat_args(node, bob_id, "--device", "phone", "--to", alice_id))
    await bob_phone.expect(f"chatting with @{alice_id}")
    await alice.expect(f"-- {bob_id} is online")
    alice.line("/quit")
    assert await alice.exit_status() == 0

    # Again, now that bob is a contact: the snapshot and the contact answer both say online.
    alice = terminal(*chat_args(node, alice_id, "--to", bob_id))
    await alice.expect(f"chatting with @{bob_id}")
    # bob opens one more device on the chat that exists: no "created" again for alice.
    bob_tablet = terminal(*chat_args(node, bob_id, "--device", "tablet", "--to", alice_id))
    await bob_tablet.expect(f"chatting with @{alice_id}")
    bob_phone.line("from my phone")
    await bob_phone.expect("✓ sent #1")
    seen = await alice.expect(f"{bob_id}: from my phone")
    assert alice.seen.count(f"-- {bob_id} is online") == 1, alice.seen
    assert "created" not in seen

    for device in (bob, bob_phone, bob_tablet):
        device.line("/quit")
    for device in (bob, bob_phone, bob_tablet):
        assert await device.exit_status() == 0
    await alice.expect(f"-- {bob_id} is offline, last seen just now")
    alice.line("/list")
    await alice.expect(f"@{bob_id}  (offline, last seen just now)")
    alice.line("/quit")
    assert await alice.exit_status() == 0


async def test_caught_up_messages_are_named_by_person_or_group(node: SingleNode, terminal: Open) -> None:
    alice_id, bob_id, carol_id = unique("alice"), unique("bob"), unique("carol")
    await (await signed_up(node, alice_id)).close()
    bob = await signed_up(node, bob_id)
    carol = await signed_up(node, carol_id)
    direct = await bob.open_direct(alice_id)
    await bob.send(direct.conversation_id, "while you were out")
    group = await carol.create_group("weekend", [alice_id])
    await carol.send(group.conversation_id, "who is in?")

    alice = terminal(*chat_args(node, alice_id))
    await alice.expect("/help lists commands")
    await alice.expect_all(
        f"@{bob_id} #1] {bob_id}: while you were out", f"weekend #1] {carol_id}: who is in?"
    )
    assert f"#{direct.conversation_id}" not in alice.seen
    assert f"#{group.conversation_id}" not in alice.seen
    alice.line("/quit")
    assert await alice.exit_status() == 0
    await bob.close()
    await carol.close()


async def test_history_older_pages_further_back_each_time(node: SingleNode, terminal: Open) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    alice_sdk = await signed_up(node, alice_id)
    bob = await signed_up(node, bob_id)
    direct = await bob.open_direct(alice_id)
    for n in range(1, 46):
        await bob.send(direct.conversation_id, f"m{n}")
    await messages(alice_sdk, 45)
    await alice_sdk.close()  # delivered: the terminal has nothing to catch up

    alice = terminal(*chat_args(node, alice_id, "--to", bob_id))
    await alice.expect(f"chatting with @{bob_id}")
    alice.line("/history")
    page = await alice.expect("/history older shows earlier messages")
    assert f"#26] {bob_id}: m26" in page and f"#45] {bob_id}: m45" in page and "m25" not in page
    alice.line("/history older")
    page = await alice.expect("/history older shows earlier messages")
    assert f"#6] {bob_id}: m6" in page and f"#25] {bob_id}: m25" in page
    assert "m26" not in page and ": m5\r" not in page
    alice.line("/history older")
    page = await alice.expect("that is the beginning of the conversation")
    assert f"#1] {bob_id}: m1" in page and f"#5] {bob_id}: m5" in page and "m6" not in page
    alice.line("/history older")
    await alice.expect("-- no older messages")
    alice.line("/quit")
    assert await alice.exit_status() == 0
    await bob.close()


async def test_group_by_title_and_the_group_commands(node: SingleNode, terminal: Open) -> None:
    alice_id, bob_id, carol_id = unique("alice"), unique("bob"), unique("carol")
    bob = terminal(*chat_args(node, bob_id))
    await bob.expect(f"signed in as {bob_id}")
    carol_sdk = await signed_up(node, carol_id)
    alice = terminal(*chat_args(node, alice_id, "--group", "weekend"))
    await alice.expect("created the group weekend")
    await alice.expect("talking in weekend (conversation ")

    alice.line(f"/add {bob_id},{carol_id}")
    await alice.expect(f"added {bob_id}, {carol_id} to weekend")
    await bob.expect(f"-- weekend: members added ({bob_id}, {carol_id}) by {alice_id}")
    alice.line("/rename climbing")
    await alice.expect("renamed to climbing")
    await bob.expect(f"-- climbing: renamed by {alice_id}")
    bob.line("/switch climbing")
    await bob.expect("now talking in climbing")
    bob.line("see you at the wall")
    await bob.expect("✓ sent #1")
    await alice.expect(f"climbing #1] {bob_id}: see you at the wall")

    alice.line(f"/remove {carol_id}")
    await alice.expect(f"removed {carol_id} from climbing")
    bob.line("/leave")
    await bob.expect("you left climbing")
    await alice.expect(f"-- climbing: member removed ({bob_id}) by {bob_id}")
    alice.line("/leave")  # the owner hands the group on first
    await alice.expect("PERMISSION_DENIED")
    alice.line("/quit")
    bob.line("/quit")
    assert await alice.exit_status() == 0
    assert await bob.exit_status() == 0

    # The title finds the group that exists, rather than making another.
    again = terminal(*chat_args(node, alice_id, "--group", "climbing"))
    seen = await again.expect("talking in climbing (conversation ")
    assert "created" not in seen
    again.line("/quit")
    assert await again.exit_status() == 0
    await carol_sdk.close()


async def test_a_non_member_is_refused_at_start(node: SingleNode, terminal: Open) -> None:
    owner = await signed_up(node, unique("owner"))
    group = await owner.create_group("private", [])
    dave = terminal(*chat_args(node, unique("dave"), "--group", str(group.conversation_id)))
    await dave.expect(f"you cannot talk in conversation {group.conversation_id}: NOT_MEMBER")
    assert await dave.exit_status() == 2
    await owner.close()


async def test_help_is_offered_in_the_banner_and_lists_the_commands(node: SingleNode, terminal: Open) -> None:
    usage = terminal("--help")
    text = await usage.expect("/quit")
    assert all(command in text for command in ("/switch", "/history", "/add", "/remove", "/rename", "/leave"))
    assert "HUBBUB_PASSWORD" in text
    assert await usage.exit_status() == 0

    alice = terminal(*chat_args(node, unique("alice")))
    await alice.expect("/help lists commands")
    alice.line("/help")
    listing = await alice.expect("any other line is sent to the current conversation")
    assert "/history [older]" in listing and "/leave" in listing
    alice.line("/nonsense")
    await alice.expect("unknown command /nonsense")
    alice.line("/switch 12345")
    await alice.expect("! NOT_FOUND")
    alice.type("\x04")  # Ctrl-D on an empty line leaves too
    assert await alice.exit_status() == 0

    bob = terminal(*chat_args(node, unique("bob")))
    await bob.expect("/help lists commands")
    bob.type("half a line")
    await bob.expect("half a line")  # echoed by the chat's line editor, not the terminal
    assert bob.mode() != bob.cooked
    bob.type("\x03")  # Ctrl-C
    assert await bob.exit_status() == 130
    assert bob.mode() == bob.cooked  # the terminal is given back as it was


async def test_ctrl_c_leaves_even_when_started_with_sigint_ignored(node: SingleNode, terminal: Open) -> None:
    """A shell without job control (a CI runner, `cmd &` in a script) starts its background
    jobs with SIGINT ignored: the chat still leaves on Ctrl-C and gives the terminal back."""
    carol = terminal(*chat_args(node, unique("carol")), sigint_ignored=True)
    await carol.expect("/help lists commands")
    carol.type("typed")
    await carol.expect("typed")
    carol.type("\x03")  # Ctrl-C
    assert await carol.exit_status() == 130
    assert carol.mode() == carol.cooked


async def test_the_password_is_asked_for_on_a_terminal(node: SingleNode, terminal: Open) -> None:
    user = unique("erin")
    erin = terminal("--user", user, "--url", node.ws_url)
    await erin.expect(f"password for {user}:")
    erin.line("erin-secret-1")
    await erin.expect(f"signed in as {user}")  # signed up on first use
    erin.line("/quit")
    assert await erin.exit_status() == 0

    wrong = terminal("--user", user, "--url", node.ws_url)
    await wrong.expect(f"password for {user}:")
    wrong.line(f"{user}-hubbub-demo")  # the old guessable default gets nobody in
    await wrong.expect("cannot connect")
    assert await wrong.exit_status() == 1

    by_env = terminal("--user", user, "--url", node.ws_url, env={"HUBBUB_PASSWORD": "erin-secret-1"})
    await by_env.expect(f"signed in as {user}")
    by_env.line("/quit")
    assert await by_env.exit_status() == 0


async def test_a_fatal_close_ends_the_client_with_a_clear_message(tmp_path: Path, terminal: Open) -> None:
    """The server comes back with another data directory: nobody can be re-authenticated, so
    the client says so and exits non-zero (rather than staying alive answering nothing)."""
    first = await start_single_node(node_config(tmp_path))
    port = urlsplit(first.ws_url).port
    alice = terminal(*chat_args(first, unique("alice")))
    await alice.expect("/help lists commands")
    await first.stop()
    await alice.expect("connection lost; reconnecting")
    other = replace(node_config(tmp_path), data_dir=tmp_path / "another-data-dir", ws_port=port or 0)
    second = await start_single_node(other)
    try:
        await alice.expect("the connection is closed for good (cannot re-authenticate")
        assert await alice.exit_status() == 1
    finally:
        await second.stop()


async def test_the_grpc_transport_chats_too(node: SingleNode, terminal: Open) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    bob = await signed_up(node, bob_id)
    alice = terminal(
        "--user",
        alice_id,
        "--password",
        "pw-alice-1",
        "--transport",
        "grpc",
        "--url",
        node.gateway_target,
        "--to",
        bob_id,
    )
    await alice.expect(f"chatting with @{bob_id}")
    alice.line("over grpc")
    await alice.expect("✓ sent #1")
    (got,) = await messages(bob, 1)
    assert got.body == "over grpc"
    alice.line("/quit")
    assert await alice.exit_status() == 0
    await bob.close()
