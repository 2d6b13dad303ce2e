"""Attachments through the SDK against a real node (the edge and its blob server in a child
process): a file goes up by its signed URL, the message points to it, the peer saves it."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.single_node import SingleNode
from kernel.errors import HubbubError
from sdk import media_transfer
from sdk.chat_view import message_line
from tests.sdk.test_client_e2e import messages, sign_up, unique


async def test_a_file_is_attached_sent_and_saved_by_the_peer(node: SingleNode, tmp_path: Path) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    alice, bob = await sign_up(node, alice_id), await sign_up(node, bob_id)
    conversation = (await alice.open_direct(bob_id)).conversation_id
    photo = tmp_path / "sunset.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(1000))

    sent = await media_transfer.attach(alice, conversation, str(photo), "look")
    (got,) = await messages(bob, 1)
    assert got.seq == sent.seq and got.body == "look"
    assert (got.media.file_name, got.media.content_type, got.media.size_bytes) == (
        "sunset.png",
        "image/png",
        1008,
    )
    assert "/save " + got.media.key in message_line(got, "@alice", bob_id)

    saved, size = await media_transfer.save(bob, conversation, got.media.key, str(tmp_path / "copy.png"))
    assert size == 1008 and saved.read_bytes() == photo.read_bytes()
    await alice.close()
    await bob.close()


async def test_a_file_of_a_type_off_the_list_is_refused_before_it_is_read(
    node: SingleNode, tmp_path: Path
) -> None:
    alice_id = unique("alice")
    alice = await sign_up(node, alice_id)
    with pytest.raises(HubbubError) as caught:  # never read: the file does not even exist
        await media_transfer.attach(alice, 1, str(tmp_path / "page.html"))
    assert caught.value.code.value == "INVALID_ARGUMENT"
    await alice.close()
