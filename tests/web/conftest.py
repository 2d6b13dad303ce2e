"""A real single node and headless Chromium (Debian's, driven by Playwright) per test.

Chromium is never downloaded (`playwright install` is not run): a missing browser fails the
run. Screenshots go to test-artifacts/web/ (git-ignored), or to $WEB_ARTIFACTS_DIR."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright, expect

from deploy.single_node import SingleNode
from tests.e2e.conftest import node, push  # the e2e suite's single node, one per test

__all__ = ["node", "push"]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS_ENV = "WEB_ARTIFACTS_DIR"
PASSWORD = "correct horse battery"
WAIT_MS = 20_000  # what a DOM wait allows before failing: generous, the machine is shared

expect.set_options(timeout=WAIT_MS)


def web_url(node: SingleNode) -> str:
    return node.ws_url.replace("ws://", "http://", 1) + "/"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (one stat, before anything runs)
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (./dev test does)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    root = Path(os.environ.get(ARTIFACTS_ENV, Path(__file__).parents[2] / "test-artifacts" / "web"))
    folder = root / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class WebUser:
    """One browser tab of the web client, driven the way a person would."""

    page: Page
    user_id: str
    errors: list[str]

    async def sign_up(self) -> None:
        await self.page.fill("#login-user", self.user_id)
        await self.page.fill("#login-password", PASSWORD)
        await self.page.click("#signup-button")
        await self.wait_logged_in()

    async def log_in(self, password: str = PASSWORD) -> None:
        await self.page.fill("#login-user", self.user_id)
        await self.page.fill("#login-password", password)
        await self.page.click("#login-button")

    async def wait_logged_in(self) -> None:
        await expect(self.page.locator("#me-name")).to_have_text(self.user_id)

    def conversation(self, title: str) -> Locator:
        """The row of the conversation list with exactly that title."""
        exactly = re.compile(f"^{re.escape(title)}$")
        return self.page.locator("#conversations li", has=self.page.locator(".title", has_text=exactly))

    async def open_direct(self, peer: str) -> None:
        await self.page.fill("#direct-peer", peer)
        await self.page.click("#direct-form button")
        await expect(self.page.locator("#chat-title")).to_have_text(peer)

    async def open(self, title: str) -> None:
        await self.conversation(title).click()
        await expect(self.page.locator("#chat-title")).to_have_text(title)

    async def type_and_send(self, text: str) -> None:
        """Type a message and press Enter, without waiting for its ack."""
        await self.page.fill("#composer-text", text)
        await self.page.press("#composer-text", "Enter")

    async def send(self, text: str) -> None:
        """Send a message and wait for the server's ack."""
        await self.type_and_send(text)
        await expect(self.mine(text).locator(".tick")).not_to_have_attribute("data-state", "pending")

    def mine(self, text: str) -> Locator:
        return self.page.locator(".message.mine", has=self.page.locator(".body", has_text=text))

    def message(self, text: str) -> Locator:
        return self.page.locator(".message", has=self.page.locator(".body", has_text=text))

    async def bodies(self) -> list[str]:
        return await self.page.locator("#message-list .message .body").all_inner_texts()

    async def shot(self, folder: Path, name: str) -> Path:
        path = folder / f"{name}.png"
        await self.page.screenshot(path=str(path))
        return path


class People:
    """People at their browsers: each person a browser context (own storage), each tab a device."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.browser = browser
        self.url = url
        self.contexts: dict[str, BrowserContext] = {}
        self.tabs: list[WebUser] = []

    async def person(self, user_id: str) -> WebUser:
        """A new person's first tab, at the log-in form."""
        self.contexts[user_id] = await self.browser.new_context(viewport={"width": 1000, "height": 640})
        return await self.tab(user_id)

    async def signed_up(self, *user_ids: str) -> list[WebUser]:
        """A new person per id, each signed up in a first tab."""
        users = [await self.person(user_id) for user_id in user_ids]
        for user in users:
            await user.sign_up()
        return users

    async def tab(self, user_id: str) -> WebUser:
        """One more tab of that person's browser: logged in already if a tab was."""
        page = await self.contexts[user_id].new_page()
        user = WebUser(page, user_id, [])
        page.on("pageerror", lambda error: user.errors.append(str(error)))
        self.tabs.append(user)
        await page.goto(self.url)
        return user

    def context_of(self, user_id: str) -> BrowserContext:
        return self.contexts[user_id]

    async def close(self) -> None:
        for context in self.contexts.values():
            await context.close()


@pytest.fixture
async def people(browser: Browser, node: SingleNode) -> AsyncIterator[People]:
    crowd = People(browser, web_url(node))
    try:
        yield crowd
        for tab in crowd.tabs:  # a script error in any tab fails the test that caused it
            assert tab.errors == [], f"{tab.user_id}: {tab.errors}"
    finally:
        await crowd.close()
