"""The MCP view against a real server (the SDK-built scripted server of the MCP tests, over stdio)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from tests.dashboard.support import axe_violations
from tests.protocols.support import SCRIPTED
from tests.server.support import Daemon, running_daemon

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    config = f"""
agents:
  - {{id: a, provider: mock}}
mcp_servers:
  - name: scripted
    command: {sys.executable}
    args: ["{SCRIPTED}"]
"""
    with running_daemon(tmp_path_factory.mktemp("dash-mcp"), config) as d:
        yield d


def test_servers_tools_and_restart(page: Page, daemon: Daemon) -> None:
    page.goto(f"{daemon.url}/#/mcp")
    row = page.locator('tr[data-server="scripted"]')
    expect(row.locator(".badge")).to_have_text("connected")
    with daemon.client() as client:
        tools = client.get("/api/mcp/tools").json()
    expect(row).to_contain_text("stdio")
    assert tools, "the scripted server offers tools"
    expect(page.get_by_role("region", name="MCP tools")).to_contain_text(tools[0]["name"])
    page.get_by_role("button", name="Restart: scripted").click()
    expect(row.locator("td").nth(4)).to_have_text("1")  # restarts
    expect(row.locator(".badge")).to_have_text("connected")
    assert axe_violations(page) == []
