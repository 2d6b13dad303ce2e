"""A photo attached in the web client: uploaded by its signed URL, shown to the peer as an image."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from playwright.async_api import expect

from tests.web.conftest import People

# A 2x1 PNG (red, blue).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAAEElEQVR4nGP4z8DAwMDAAAAe/wH/cNqbYAAAAABJRU5ErkJggg=="
)


async def test_an_attached_image_reaches_the_peer_as_a_preview(people: People, tmp_path: Path) -> None:
    alice, bob = await people.signed_up("alice", "bob")
    await alice.open_direct("bob")
    photo = tmp_path / "dot.png"
    photo.write_bytes(PNG)
    await alice.page.locator("#composer-file").set_input_files(str(photo))
    mine = alice.page.locator("#message-list li.mine img.attachment")
    await expect(mine).to_have_attribute("alt", "dot.png")

    await bob.open("alice")
    preview = bob.page.locator("#message-list li img.attachment")
    await expect(preview).to_have_attribute("src", re.compile(r"^http://.*/media/object/"))
    # loaded, not only pointed at: the blob server answered and the page's policy allowed it
    assert await preview.evaluate("img => img.decode().then(() => img.naturalWidth)") == 2
