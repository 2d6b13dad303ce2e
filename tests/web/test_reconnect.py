"""The node restarts under an open web client: it says it is offline, comes back by itself
with its stored token, sends what was written meanwhile, and the chat carries on."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from deploy.local_servers.process import free_ports
from deploy.single_node import start_single_node
from tests.e2e.conftest import config_for_tests
from tests.web.conftest import People, web_url


async def test_a_restarted_node_is_rejoined_without_a_new_log_in(browser: Browser, tmp_path: Path) -> None:
    ws_port, gateway_port, discovery_port = free_ports(3)
    config = config_for_tests(
        tmp_path, ws_port=ws_port, gateway_port=gateway_port, discovery_port=discovery_port
    )
    node = await start_single_node(config)
    people = People(browser, web_url(node))
    try:
        alice, bob = await people.signed_up("alice", "bob")
        await alice.open_direct("bob")
        await alice.send("before the restart")
        await bob.open("alice")
        await expect(bob.message("before the restart")).to_be_visible()

        await node.stop()
        await expect(alice.page.locator("#offline-banner")).to_be_visible()
        await expect(bob.page.locator("#offline-banner")).to_be_visible()
        await alice.type_and_send("written while it was down")
        await expect(alice.mine("written while it was down").locator(".tick")).to_have_attribute(
            "data-state", "pending"
        )

        node = await start_single_node(config)  # same ports, same data (and token secret)
        await expect(alice.page.locator("#offline-banner")).to_be_hidden()
        await expect(bob.message("written while it was down")).to_be_visible()
        await expect(alice.mine("written while it was down").locator(".tick")).to_have_attribute(
            "data-state", "read"
        )
        await bob.send("welcome back")
        await expect(alice.message("welcome back")).to_be_visible()
        assert await alice.bodies() == ["before the restart", "written while it was down", "welcome back"]
        assert await alice.page.locator("#login").is_hidden()
        for tab in people.tabs:
            assert tab.errors == [], f"{tab.user_id}: {tab.errors}"
    finally:
        await people.close()
        await node.stop()
