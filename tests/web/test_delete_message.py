"""Deleting a message in the web client: its sender's "Delete" replaces it with "This message
was deleted" on every device, live and for a tab that was closed meanwhile (resume)."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.web.conftest import People

DELETED = "This message was deleted"


async def test_a_deleted_message_is_replaced_everywhere(people: People, artifacts: Path) -> None:
    alice, bob = await people.signed_up("alice", "bob")
    await alice.open_direct("bob")
    await alice.send("a typo")
    await alice.send("the right one")
    await bob.open("alice")
    await expect(bob.message("the right one")).to_be_visible()
    # bob's second tab (another device) is closed while the message is deleted
    laptop = await people.tab("bob")
    await laptop.wait_logged_in()
    await laptop.open("alice")
    await expect(laptop.message("a typo")).to_be_visible()
    await laptop.page.close()

    await expect(bob.message("a typo").locator(".delete")).to_have_count(0)  # only on one's own
    await alice.mine("a typo").locator(".delete").click()
    await expect(alice.page.locator(".message[data-deleted] .body")).to_have_text(DELETED)
    await expect(bob.page.locator(".message[data-deleted] .body")).to_have_text(DELETED)  # live
    assert await bob.bodies() == [DELETED, "the right one"]
    await expect(alice.page.locator(".message[data-deleted] .delete")).to_have_count(0)
    await bob.shot(artifacts, "1-bob-sees-it-deleted")

    laptop = await people.tab("bob")  # back: the deletion arrives by resume
    await laptop.wait_logged_in()
    await laptop.open("alice")
    await expect(laptop.page.locator(".message[data-deleted] .body")).to_have_text(DELETED)
    assert await laptop.bodies() == [DELETED, "the right one"]
