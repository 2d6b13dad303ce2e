"""Groups in the web client (create, rename, add, remove, leave, "read by"), several tabs of
one person as several devices, history page by page, and the errors a person is shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.web.conftest import People


async def test_a_group_is_created_renamed_changed_and_left(people: People, artifacts: Path) -> None:
    alice, bob, carol = await people.signed_up("alice", "bob", "carol")
    await alice.open_direct("carol")

    await alice.page.fill("#group-title", "climbing")
    await alice.page.fill("#group-members", "bob")
    await alice.page.click("#group-form button")
    await expect(alice.page.locator("#chat-title")).to_have_text("climbing")
    await bob.open("climbing")
    await bob.send("who is in?")
    await expect(alice.message("who is in?").locator(".sender")).to_have_text("bob")

    titles = alice.page.locator("#conversations li .title")
    await expect(titles).to_have_text(["climbing", "carol"])  # newest activity first
    await carol.open("alice")
    await carol.send("psst")
    await expect(titles).to_have_text(["carol", "climbing"])
    await expect(alice.conversation("carol").locator(".unread")).to_have_text("1")  # alice is in the group

    await alice.send("me")
    tick = alice.mine("me").locator(".tick")
    await expect(tick).to_have_attribute("data-state", "read")  # bob has the group open
    await tick.click()
    await expect(alice.page.locator("#read-by")).to_contain_text("read by: bob")

    await alice.page.click("#group-button")
    await alice.page.fill("#rename-title", "bouldering")
    await alice.page.click("#rename-form button")
    await expect(bob.page.locator("#chat-title")).to_have_text("bouldering")
    await expect(alice.conversation("bouldering")).to_be_visible()

    await alice.page.fill("#add-members", "carol")
    await alice.page.click("#add-form button")
    await expect(alice.page.locator('#group-members-list [data-member="carol"]')).to_be_visible()
    await expect(carol.conversation("bouldering")).to_be_visible()
    await alice.shot(artifacts, "1-alice-members")

    await alice.page.locator('#group-members-list [data-member="carol"] button.remove').click()
    await expect(carol.conversation("bouldering")).to_have_count(0)
    await expect(alice.page.locator('#group-members-list [data-member="carol"]')).to_have_count(0)

    await bob.page.click("#group-button")
    await bob.page.click("#leave-button")
    await expect(bob.conversation("bouldering")).to_have_count(0)
    await expect(alice.page.locator('#group-members-list [data-member="bob"]')).to_have_count(0)
    await expect(alice.page.locator('#group-members-list [data-member="alice"]')).to_be_visible()


async def test_each_tab_is_a_device_of_its_person(people: People, artifacts: Path) -> None:
    bob = await people.person("bob")
    await bob.sign_up()
    laptop = await people.person("alice")
    await laptop.sign_up()
    phone = await people.tab("alice")  # the second tab logs in with the stored token
    await phone.wait_logged_in()
    devices = [await tab.page.evaluate("sessionStorage.getItem('hubbub.device')") for tab in (laptop, phone)]
    assert devices[0] != devices[1]

    await laptop.open_direct("bob")
    await laptop.send("from the laptop")
    await expect(phone.conversation("bob")).to_be_visible()

    await bob.open("alice")
    await bob.send("to all of alice's devices")
    await expect(laptop.message("to all of alice's devices")).to_be_visible()
    # The laptop shows the chat, so it read it there: the phone's list counts it read too.
    await expect(phone.conversation("bob").locator(".preview")).to_have_text("bob: to all of alice's devices")
    await expect(phone.conversation("bob").locator(".unread")).to_have_count(0)
    await expect(bob.mine("to all of alice's devices").locator(".tick")).to_have_attribute(
        "data-state", "read"
    )

    await phone.open("bob")
    await expect(phone.mine("from the laptop")).to_be_visible()  # the sender's other device has it
    assert await phone.bodies() == ["from the laptop", "to all of alice's devices"]
    await laptop.shot(artifacts, "laptop")
    await phone.shot(artifacts, "phone")


async def test_history_scrolls_back_page_by_page(people: People) -> None:
    alice, bob = await people.signed_up("alice", "bob")
    await bob.open_direct("alice")
    for n in range(1, 46):
        await bob.type_and_send(f"message {n}")
    await expect(bob.mine("message 45").locator(".tick")).to_have_attribute("data-state", "delivered")

    await alice.page.reload()  # a fresh page: it holds nothing, the server has it all
    await alice.open("bob")
    await expect(alice.page.locator("#message-list .message")).to_have_count(30)
    assert (await alice.bodies())[0] == "message 16"
    await expect(alice.page.locator("#history-status")).to_have_text("scroll up for older messages")

    await alice.page.locator("#messages").evaluate("box => box.scrollTop = 0")
    await expect(alice.page.locator("#message-list .message")).to_have_count(45)
    assert await alice.bodies() == [f"message {n}" for n in range(1, 46)]
    await expect(alice.page.locator("#history-status")).to_have_text("start of the conversation")


async def test_errors_are_told_in_words(people: People, artifacts: Path) -> None:
    alice = await people.person("alice")
    await alice.sign_up()
    await alice.page.click("#logout-button")
    await alice.log_in("not the password")
    await expect(alice.page.locator("#login-error")).to_have_text("Wrong user id or password.")
    await alice.log_in()
    await alice.wait_logged_in()

    await alice.page.fill("#direct-peer", "bob")  # no such user yet
    await alice.page.click("#direct-form button")
    await expect(alice.page.locator("#toast")).to_contain_text("Not found")

    bob = await people.person("bob")
    await bob.sign_up()
    await alice.open_direct("bob")
    await alice.type_and_send("x" * 100_001)
    await expect(alice.page.locator("#toast")).to_have_text(
        "That message is too long (at most 100,000 characters)."
    )
    await expect(alice.page.locator('.message [data-state="failed"]')).to_have_count(1)
    await alice.shot(artifacts, "too-large")


@pytest.fixture
def tight_send_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two sends at once, then one a second (set before the node starts)."""
    monkeypatch.setenv("HUBBUB_RATE_SEND_BURST", "2")
    monkeypatch.setenv("HUBBUB_RATE_SEND_PER_SECOND", "1")


async def test_over_the_send_limit_the_client_says_so_and_sends_later(
    tight_send_limit: None, people: People
) -> None:
    alice, bob = await people.signed_up("alice", "bob")
    await alice.open_direct("bob")
    for n in range(1, 5):
        await alice.type_and_send(f"quick {n}")
    await expect(alice.page.locator("#toast")).to_contain_text("Slow down")
    await bob.open("alice")
    await expect(bob.message("quick 4")).to_be_visible()
    assert await bob.bodies() == [f"quick {n}" for n in range(1, 5)]  # none lost, none twice


async def test_a_message_written_after_being_removed_is_refused_in_words(people: People) -> None:
    alice, bob = await people.signed_up("alice", "bob")
    await alice.page.fill("#group-title", "crew")
    await alice.page.fill("#group-members", "bob")
    await alice.page.click("#group-form button")
    await bob.open("crew")
    await people.context_of("bob").set_offline(True)
    await expect(bob.page.locator("#offline-banner")).to_be_visible()
    await alice.page.click("#group-button")
    await alice.page.locator('#group-members-list [data-member="bob"] button.remove').click()
    await expect(alice.page.locator('#group-members-list [data-member="bob"]')).to_have_count(0)
    await bob.type_and_send("am I still in?")  # written offline, sent on reconnect

    await people.context_of("bob").set_offline(False)
    await expect(bob.page.locator("#toast")).to_have_text("You are not a member of this conversation.")
    await expect(bob.conversation("crew")).to_have_count(0)
