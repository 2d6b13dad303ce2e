"""Two people chat 1:1 in the web client: ticks, typing, presence, going offline and back."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.web.conftest import People


async def test_ticks_move_from_sent_to_delivered_to_read(people: People, artifacts: Path) -> None:
    bob = await people.person("bob")
    await bob.sign_up()
    await bob.page.close()  # bob is away: nothing can reach him yet

    alice = await people.person("alice")
    await alice.sign_up()
    await alice.open_direct("bob")
    await alice.send("hello bob")
    tick = alice.mine("hello bob").locator(".tick")
    await expect(tick).to_have_attribute("data-state", "sent")
    await alice.shot(artifacts, "1-alice-sent")

    bob = await people.tab("bob")  # back: the stored token logs him in, the message reaches him
    await bob.wait_logged_in()
    await expect(bob.conversation("alice").locator(".unread")).to_have_text("1")
    await expect(tick).to_have_attribute("data-state", "delivered")
    # bob has not answered: opening a chat with him does not tell alice when he is online
    await expect(alice.page.locator("#chat-presence")).to_have_attribute("data-presence", "unknown")
    await alice.shot(artifacts, "2-alice-delivered")

    await bob.open("alice")
    await expect(bob.message("hello bob")).to_be_visible()
    await expect(tick).to_have_attribute("data-state", "read")
    await expect(bob.conversation("alice").locator(".unread")).to_have_count(0)

    await bob.page.locator("#composer-text").press_sequentially("hi al")
    await expect(alice.page.locator("#typing")).to_have_text("bob is typing…")
    await bob.page.locator("#composer-text").press_sequentially("ice")
    await bob.page.press("#composer-text", "Enter")
    await expect(alice.message("hi alice")).to_be_visible()
    await expect(alice.page.locator("#typing")).to_have_text("")
    # bob answered: now each sees the other's dot, at once (both are online, nothing changed)
    await expect(alice.page.locator("#chat-presence")).to_have_attribute("data-presence", "online")
    await expect(alice.conversation("bob").locator(".presence")).to_have_attribute("data-presence", "online")
    await expect(bob.page.locator("#chat-presence")).to_have_attribute("data-presence", "online")
    await alice.shot(artifacts, "3-alice-read")
    await bob.shot(artifacts, "3-bob")
    await bob.page.locator("#composer-text").press_sequentially("one more")
    await expect(alice.page.locator("#typing")).to_have_text("bob is typing…")
    await alice.shot(artifacts, "4-alice-sees-bob-typing")  # docs/web-client.png


async def test_offline_shows_a_banner_then_catches_up_in_order(people: People, artifacts: Path) -> None:
    alice, bob = await people.signed_up("alice", "bob")
    await alice.open_direct("bob")
    await alice.send("before")
    await bob.open("alice")
    await expect(bob.message("before")).to_be_visible()
    await bob.type_and_send("hi")  # bob answers: the pair see each other's presence from now
    await expect(alice.page.locator("#chat-presence")).to_have_attribute("data-presence", "online")

    await people.context_of("bob").set_offline(True)
    await expect(bob.page.locator("#offline-banner")).to_be_visible()
    await expect(alice.page.locator("#chat-presence")).to_have_attribute("data-presence", "offline")
    for n in range(1, 6):
        await alice.send(f"while away {n}")
    await expect(alice.mine("while away 5").locator(".tick")).to_have_attribute("data-state", "sent")
    await bob.type_and_send("written offline")  # kept, and sent once back online
    await expect(bob.mine("written offline").locator(".tick")).to_have_attribute("data-state", "pending")
    await bob.shot(artifacts, "1-bob-offline")

    await people.context_of("bob").set_offline(False)
    await expect(bob.page.locator("#offline-banner")).to_be_hidden()
    await expect(bob.message("while away 5")).to_be_visible()
    assert await bob.bodies() == [
        "before",
        "hi",
        *(f"while away {n}" for n in range(1, 6)),
        "written offline",
    ]
    await expect(alice.message("written offline")).to_be_visible()
    assert await alice.bodies() == [
        "before",
        "hi",
        *(f"while away {n}" for n in range(1, 6)),
        "written offline",
    ]
    await expect(alice.mine("while away 5").locator(".tick")).to_have_attribute("data-state", "read")
    await expect(alice.page.locator("#chat-presence")).to_have_attribute("data-presence", "online")
    await bob.shot(artifacts, "2-bob-caught-up")
