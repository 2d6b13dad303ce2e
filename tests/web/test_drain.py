"""The web client through discovery: a page on a drained edge moves to the other one (it asks
discovery for an edge on every connect and follows the `reconnect` frame) and shows every
message once, in order."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, expect

from deploy.single_node import SingleNode, start_single_node
from tests.e2e.conftest import config_for_tests
from tests.e2e.test_drain import admin
from tests.web.conftest import People

# Far past a DOM wait: a page that ignored the reconnect frame would still be on the drained
# edge when the wait gives up (it is never closed into moving).
CLOSE_AFTER_MS = 600_000


@pytest.fixture
async def two_edges(tmp_path: Path) -> AsyncIterator[SingleNode]:
    config = config_for_tests(tmp_path, edges=2, drain_period_ms=300, drain_close_after_ms=CLOSE_AFTER_MS)
    running = await start_single_node(config)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def crowd(browser: Browser, two_edges: SingleNode) -> AsyncIterator[People]:
    """People whose page comes from edge-1 and is told where discovery is (`?discovery=`)."""
    page_url = two_edges.ws_urls[0].replace("ws://", "http://", 1)
    people = People(browser, f"{page_url}/?discovery={quote(two_edges.discovery_http, safe='')}")
    try:
        yield people
        for tab in people.tabs:
            assert tab.errors == [], f"{tab.user_id}: {tab.errors}"
    finally:
        await people.close()


async def test_a_drained_edges_page_moves_and_shows_every_message_once_in_order(
    crowd: People, two_edges: SingleNode, artifacts: Path
) -> None:
    alice, bob = await crowd.signed_up("alice", "bob")
    await alice.open_direct("bob")
    for n in range(3):
        await alice.send(f"before {n}")
    await bob.open("alice")
    await expect(bob.message("before 2")).to_be_visible()

    body = alice.page.locator("body")
    await expect(body).to_have_attribute("data-edge", re.compile(r"^edge-[12]$"))
    drained = str(await body.get_attribute("data-edge"))
    other = "edge-2" if drained == "edge-1" else "edge-1"
    assert drained in await admin(two_edges, "drain", drained)

    for n in range(5):  # bob keeps writing while alice's page is told to move
        await bob.type_and_send(f"during {n}")
    await expect(body).to_have_attribute("data-edge", other)  # moved, by discovery's choice
    # (bob's page may be moving too: his last sends are acked before alice writes again)
    await expect(bob.mine("during 4").locator(".tick")).not_to_have_attribute("data-state", "pending")
    await alice.send("after the move")
    await expect(bob.message("after the move")).to_be_visible()
    await expect(alice.message("during 4")).to_be_visible()

    expected = [*(f"before {n}" for n in range(3)), *(f"during {n}" for n in range(5)), "after the move"]
    assert await alice.bodies() == expected
    assert await bob.bodies() == expected
    await expect(alice.page.locator("#offline-banner")).to_be_hidden()
    await alice.shot(artifacts, "alice-after-the-move")
