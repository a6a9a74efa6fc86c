"""Browser fixtures: one daemon and one chromium per module, a fresh page per test, and a
screenshot of the page when a test fails (its path is printed in the failure report)."""

from __future__ import annotations

import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from tests.dashboard.support import DASHBOARD_CONFIG, launch
from tests.server.support import Daemon, running_daemon

# A hang guard, not a timing: the suite runs three workers on two cores beside a daemon and Chromium,
# where a live update can take longer than Playwright's 5 s default to reach the page.
expect.set_options(timeout=30_000)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("dash"), DASHBOARD_CONFIG) as d:
        yield d


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def console() -> list[str]:
    """The page's console errors and warnings so far; a test that provokes one removes it, the rest fail the test."""
    return []


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, console: list[str]) -> Iterator[Page]:
    """A 1280x800 page; console errors and page errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    problems = console

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    yield page
    failed = request.node.stash.get(_FAILED, False)
    if failed:
        shots = Path(tempfile.mkdtemp(prefix="axocoatl-dashboard-"))
        path = shots / f"{request.node.name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"\nscreenshot of the failing page: {path}")
    context.close()
    if not failed:
        assert problems == [], problems
