"""The dashboard on a daemon with keys: the login form, the session cookie, and cross-site refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from tests.dashboard.support import DASHBOARD_CONFIG
from tests.server.support import Daemon, running_daemon

pytestmark = pytest.mark.slow

KEY = "sk-dash-3c9e1f7a5b"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    config = DASHBOARD_CONFIG + f'server:\n  auth:\n    api_keys: ["{KEY}"]\n'
    with running_daemon(tmp_path_factory.mktemp("dash-auth"), config) as d:
        yield d


def test_login_with_a_key_keeps_it_out_of_urls_and_script(page: Page, daemon: Daemon, console: list[str]) -> None:
    page.goto(daemon.url + "/#/agents")
    key = page.get_by_label("API key")
    key.fill("not-the-key")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong API key")
    assert [c for c in console if "401" in c] and console.clear() is None  # the refused login, as the browser logs it
    key.fill(KEY)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Agents")).to_be_visible()
    expect(page.locator('tr[data-agent="assistant"]')).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="live")).to_be_visible()  # /ws took the cookie
    assert KEY not in page.url
    (cookie,) = page.context.cookies()
    assert cookie["name"] == "axocoatl_session" and KEY not in cookie["value"]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script on the page can read it
    page.reload()
    expect(page.get_by_role("heading", name="Agents")).to_be_visible()  # the session outlives a reload
    expect(page.locator('tr[data-agent="publisher"] .badge')).to_have_text("idle")  # every status loaded
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    with daemon.client() as client:
        assert client.get("/api/agents", headers={"cookie": f"axocoatl_session={cookie['value']}"}).status_code == 401


def test_another_origin_cannot_use_the_session(page: Page, daemon: Daemon) -> None:
    page.goto(daemon.url + "/")
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("status").filter(has_text="live")).to_be_visible()
    # A page on another origin in the same browser (localhost is not 127.0.0.1) opens the daemon's
    # WebSocket and posts to its API. Its own CSP is bypassed: we are playing the attacker's page.
    other = page.context.browser.new_context(bypass_csp=True)  # type: ignore[union-attr]
    other.add_cookies(page.context.cookies())
    attacker = other.new_page()
    attacker.goto(daemon.url.replace("127.0.0.1", "localhost") + "/health")
    target = daemon.url.replace("http://", "ws://") + "/ws"
    outcome = attacker.evaluate(
        """(url) => new Promise((done) => {
            const ws = new WebSocket(url);
            ws.onopen = () => done("open");
            ws.onclose = () => done("refused");
        })""",
        target,
    )
    posted = attacker.evaluate(
        "(url) => fetch(url, {method: 'POST', credentials: 'include', mode: 'no-cors'}).then(() => 'sent')",
        daemon.url + "/api/agents/assistant/reset",
    )
    other.close()
    assert outcome == "refused"
    assert posted == "sent"
    log = daemon.log()
    assert "POST /api/agents/assistant/reset 403" in log  # refused by its Origin, nothing reset
    assert "POST /api/agents/assistant/reset 200" not in log
