"""The dashboard in a real browser (Debian's chromium through Playwright) against `axocoatl serve`."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocket, expect
from tests.dashboard.support import axe_violations
from tests.server.support import Daemon, wait_run

pytestmark = pytest.mark.slow


def open_view(page: Page, daemon: Daemon, route: str) -> None:
    page.goto(f"{daemon.url}/#/{route}")
    expect(page.get_by_role("status").filter(has_text="live")).to_be_visible()


def test_run_a_workflow_and_watch_its_graph_live(page: Page, daemon: Daemon) -> None:
    frames: list[dict[str, Any]] = []

    def on_socket(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", on_socket)
    open_view(page, daemon, "runs")
    page.get_by_role("form", name="Start a run").get_by_label("Workflow").select_option("research")
    page.get_by_label("Task").fill("map the river deltas")
    page.get_by_role("button", name="Run workflow").click()
    expect(page).to_have_url(re.compile(r"#/runs/run-"))
    graph = page.locator("svg.lattice")
    summarizer = graph.locator('g.node[data-agent="summarizer"]')
    # The entry agents run while the join waits: seen live, before the run ends.
    expect(graph.locator('g.node[data-agent="researcher"]')).to_have_attribute("data-status", "running")
    expect(summarizer).to_have_attribute("data-status", "pending")
    expect(summarizer).to_have_attribute("data-status", "running")
    expect(summarizer).to_have_attribute("data-status", "completed")
    expect(page.get_by_test_id("run-status")).to_have_text("completed")
    expect(page.get_by_test_id("final-output")).to_contain_text("map the river deltas")
    # The join sits one layer right of both dependencies, and its signal bar is full.
    x = {a: graph.locator(f'g.node[data-agent="{a}"]').get_attribute("transform") for a in ("researcher", "summarizer")}
    assert x["researcher"] != x["summarizer"]
    expect(summarizer).to_contain_text("signal 1/1")
    kinds = {f.get("kind") for f in frames}
    assert {"step-status", "event", "run-status"} <= kinds  # it was driven by /ws, not by polling
    run_id = page.url.rsplit("/", 1)[-1]
    with daemon.client() as client:
        assert wait_run(client, run_id)["status"] == "completed"
    # Open a step: its input, output and tokens.
    summarizer.click()
    expect(page).to_have_url(re.compile(r"/summarizer$"))
    detail = page.get_by_role("region", name="Step summarizer")
    expect(detail.get_by_test_id("step-output")).to_contain_text("[summarizer]")
    expect(detail).to_contain_text("Original task: map the river deltas")
    expect(detail).to_contain_text("1 attempt")
    # The list filters by workflow and status.
    open_view(page, daemon, "runs")
    page.get_by_label("Status").select_option("failed")
    expect(page.get_by_text("No runs match.")).to_be_visible()
    page.get_by_label("Status").select_option("completed")
    expect(page.get_by_role("link", name=run_id)).to_be_visible()


def test_a_message_sent_while_the_thread_history_loads_stays(page: Page, daemon: Daemon) -> None:
    # The history's answer (an empty thread) is held until the turn is done, as on a slow link.
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append((route, route.fetch()))

    page.route(re.compile(r"/api/agents/assistant/threads/late-1/messages"), hold)
    open_view(page, daemon, "chat/assistant/late-1")
    for _ in range(200):  # the view asks for the history as it opens
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the chat view never asked for the thread's history"
    page.get_by_role("textbox", name="Message").fill("hi while loading")
    page.get_by_role("button", name="Send").click()
    log = page.get_by_test_id("chatlog")
    expect(log.locator('.msg[data-done="true"]')).to_have_text("Hello from assistant: hi while loading")
    assert len(held) == 1
    route, response = held[0]
    route.fulfill(response=response)
    page.wait_for_load_state("networkidle")
    expect(log.locator('.msg[data-role="user"]')).to_have_text("hi while loading")
    expect(log.locator('.msg[data-role="assistant"]')).to_have_text("Hello from assistant: hi while loading")


def test_chat_streams_tokens_and_shows_tool_cards(page: Page, daemon: Daemon) -> None:
    frames: list[dict[str, Any]] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda p: frames.append(json.loads(p))))
    open_view(page, daemon, "chat/tooler")
    page.get_by_role("textbox", name="Message").fill("use your tool")
    page.get_by_role("button", name="Send").click()
    log = page.get_by_test_id("chatlog")
    expect(log.locator('.msg[data-role="assistant"][data-done="true"]')).to_have_text('tool said {"text": "ping"}')
    expect(log.locator('details.toolcard[data-tool="echo"]')).to_contain_text("done")
    assert any(f.get("kind") == "chat-token" for f in frames)  # streamed, not one final answer
    # Another agent, on a new thread.
    page.get_by_role("combobox", name="Agent").select_option("assistant")
    page.get_by_label("New thread").fill("customer-42")
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("heading", name="assistant · thread customer-42")).to_be_visible()
    page.get_by_role("textbox", name="Message").fill("hi there")
    page.get_by_role("textbox", name="Message").press("Control+Enter")
    expect(log.locator('.msg[data-done="true"]')).to_have_text("Hello from assistant: hi there")
    expect(page.get_by_role("button", name="customer-42")).to_be_visible()
    # The conversation is the thread's: a reload shows it from the store, tool cards included.
    expect(page).to_have_url(re.compile(r"#/chat/assistant/customer-42$"))
    page.reload()
    expect(log.locator('.msg[data-role="user"]')).to_have_text("hi there")
    expect(log.locator('.msg[data-role="assistant"]')).to_have_text("Hello from assistant: hi there")
    page.goto(f"{daemon.url}/#/chat/tooler/main")
    expect(log.locator('details.toolcard[data-tool="echo"]')).to_contain_text("done")
    expect(log.locator('.msg[data-role="assistant"]')).to_have_text('tool said {"text": "ping"}')
    with daemon.client() as client:
        threads = client.get("/api/agents/assistant/threads").json()["threads"]
    assert {k: threads[0][k] for k in ("thread", "messages")} == {"thread": "customer-42", "messages": 2}


def test_stop_a_chat_turn(page: Page, daemon: Daemon) -> None:
    open_view(page, daemon, "chat/slowpoke")
    page.get_by_role("textbox", name="Message").fill("take your time")
    page.get_by_role("button", name="Send").click()
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_enabled()
    stop.click()
    expect(page.get_by_test_id("chatlog")).to_contain_text("stopped (the turn finishes in the background and is kept)")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def test_actions_resume_a_failed_run_restart_an_agent_drive_a_schedule(page: Page, daemon: Daemon) -> None:
    with daemon.client() as client:
        run = client.post("/api/workflows/fails/execute", params={"wait": "true"}, json={"input": "x"}).json()
    assert run["status"] == "failed"
    open_view(page, daemon, f"runs/{run['run_id']}")
    expect(page.get_by_test_id("run-status")).to_have_text("failed")
    page.get_by_role("button", name="Resume").click()
    # The retry runs the failed step again (and the mock fails it again): a second attempt.
    expect(page.locator("tbody tr").filter(has_text="flaky").locator("td").nth(2)).to_have_text("2")
    expect(page.get_by_test_id("run-status")).to_have_text("failed")
    open_view(page, daemon, "agents")
    with page.expect_response(lambda r: r.url.endswith("/api/agents/assistant/restart")) as restarted:
        page.get_by_role("button", name="Restart assistant").click()
    assert restarted.value.status == 200 and restarted.value.json()["restarted"] is True
    expect(page.locator('tr[data-agent="assistant"]')).to_contain_text("idle")
    open_view(page, daemon, "schedules")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    with daemon.client() as client:
        assert client.get("/api/schedules").json()[0]["status"] == "paused"
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    page.get_by_role("button", name="Run now: nightly").click()
    started = page.get_by_role("status").filter(has_text="Started")
    expect(started).to_be_visible()
    started.get_by_role("link").click()
    expect(page.get_by_text("schedule:nightly")).to_be_visible()
    expect(page.get_by_test_id("run-status")).to_have_text("completed")


def test_answer_an_interrupt_and_fork_a_run(page: Page, daemon: Daemon) -> None:
    open_view(page, daemon, "runs")
    page.get_by_role("form", name="Start a run").get_by_label("Workflow").select_option("post")
    page.get_by_label("Task").fill("river notes")
    page.get_by_role("button", name="Run workflow").click()
    expect(page.get_by_test_id("run-status")).to_have_text("waiting")
    form = page.get_by_role("form", name="Answer editor")
    expect(form).to_contain_text("Publish this draft?")
    form.get_by_role("textbox").fill("ok, ship it")
    form.get_by_role("button", name="Send answer").click()
    expect(page.get_by_test_id("run-status")).to_have_text("completed")
    run_id = page.url.rsplit("/", 1)[-1]
    with daemon.client() as client:
        steps = {s["agent_id"]: s for s in client.get(f"/api/runs/{run_id}").json()["steps"]}
    assert steps["editor"]["answer"] == "ok, ship it"
    # Fork at the publisher: a new run that reuses writer and editor, runs publisher again.
    page.locator('svg.lattice g.node[data-agent="publisher"]').click()
    fork = page.get_by_role("form", name="Fork from publisher")
    fork.get_by_role("button", name="Fork from publisher").click()
    expect(page).not_to_have_url(re.compile(re.escape(run_id)))
    expect(page.get_by_role("group", name="Run actions")).to_contain_text(f"forked from {run_id} at publisher")
    expect(page.get_by_test_id("run-status")).to_have_text("completed")
    forked = page.url.rsplit("/", 1)[-1]
    with daemon.client() as client:
        steps = {s["agent_id"]: s for s in client.get(f"/api/runs/{forked}").json()["steps"]}
    assert steps["writer"]["reused_from"] == run_id and steps["publisher"]["reused_from"] is None


def test_approve_a_tool_call_from_the_inbox(page: Page, daemon: Daemon) -> None:
    with daemon.client() as client:
        run_id = client.post("/api/workflows/guarded-job/execute", json={"input": "go"}).json()["run_id"]
    open_view(page, daemon, f"runs/{run_id}")
    node = page.locator('svg.lattice g.node[data-agent="guarded"]')
    expect(node).to_have_attribute("data-status", "awaiting_approval")
    page.get_by_role("link", name="Approvals").click()
    request = page.locator("article[data-approval]").filter(has_text="echo")
    expect(request).to_contain_text('"text": "launch"')
    expect(request).to_contain_text(run_id)
    request.get_by_role("button", name="Allow").click()
    expect(page.get_by_text("No pending approval requests.")).to_be_visible()
    with daemon.client() as client:
        assert wait_run(client, run_id)["final_output"] == 'echo said {"text": "launch"}'
    page.get_by_label("Show").select_option("allowed")
    expect(page.locator("article[data-approval]").filter(has_text=run_id)).to_contain_text("user")


def test_tokens_against_budgets(page: Page, daemon: Daemon) -> None:
    with daemon.client() as client:
        client.post("/api/workflows/research/execute", params={"wait": "true"}, json={"input": "spend"})
        spent = {a["agent_id"]: a["total"] for a in client.get("/api/tokens/report").json()["agents"]}
    open_view(page, daemon, "tokens")
    today = page.get_by_role("img", name="Tokens spent today per agent; a dashed line marks a daily budget")
    expect(today).to_contain_text(f"{spent['summarizer']:,} / 5,000")  # its per_day budget
    table = page.get_by_role("region", name="Tokens per agent and day")
    expect(table.locator("tr").filter(has_text="researcher").locator("td").nth(1)).to_have_text(
        f"{spent['researcher']:,}"
    )


def test_edit_a_memory_block(page: Page, daemon: Daemon, console: list[str]) -> None:
    open_view(page, daemon, "agents/assistant")
    block = page.get_by_label("persona")
    expect(block).to_have_value("I am a helpful assistant.")
    block.fill("I answer in haiku.")
    page.get_by_role("button", name="Save persona").click()
    expect(page.get_by_role("status").filter(has_text="saved")).to_be_visible()
    with daemon.client() as client:
        blocks = client.get("/api/agents/assistant/memory/blocks").json()
    assert blocks[0]["value"] == "I answer in haiku."
    # Over the limit: refused with the reason, nothing saved.
    block.fill("x" * 201)
    page.get_by_role("button", name="Save persona").click()
    expect(page.get_by_role("alert")).to_contain_text("over its limit of 200")
    assert [c for c in console if "422" in c] and console.clear() is None  # the refused PUT, as the browser logs it
    page.reload()
    expect(page.get_by_label("persona")).to_have_value("I answer in haiku.")


def test_every_view_loads_without_errors_or_serious_axe_findings(page: Page, daemon: Daemon) -> None:
    with daemon.client() as client:
        run = client.post("/api/workflows/research/execute", params={"wait": "true"}, json={"input": "x"}).json()
    views = ["runs", f"runs/{run['run_id']}/researcher", "agents", "agents/assistant", "chat/assistant",
             "tokens", "approvals", "schedules", "mcp"]  # fmt: skip
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        for view in views:
            open_view(page, daemon, view)
            page.wait_for_load_state("networkidle")
            assert axe_violations(page) == [], (view, width)
            # Nothing wider than the screen but the tables, which scroll inside their region.
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, (view, width, overflow)


def test_keyboard_reaches_the_views_and_the_graph(page: Page, daemon: Daemon) -> None:
    with daemon.client() as client:
        run = client.post("/api/workflows/research/execute", params={"wait": "true"}, json={"input": "k"}).json()
    open_view(page, daemon, f"runs/{run['run_id']}")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    node = page.locator('svg.lattice g.node[data-agent="critic"]')
    node.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/critic$"))
    page.get_by_role("link", name="Agents").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Agents")).to_be_visible()


def test_cancel_a_waiting_run_then_resume_it(page: Page, daemon: Daemon) -> None:
    open_view(page, daemon, "runs")
    page.get_by_role("form", name="Start a run").get_by_label("Workflow").select_option("post")
    page.get_by_label("Task").fill("lake notes")
    page.get_by_role("button", name="Run workflow").click()
    expect(page.get_by_test_id("run-status")).to_have_text("waiting")
    page.get_by_role("group", name="Run actions").get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("run-status")).to_have_text("cancelled")
    expect(page.get_by_role("group", name="Run actions").get_by_role("button", name="Cancel")).to_have_count(0)
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("run-status")).to_have_text("waiting")
    run_id = page.url.rsplit("/", 1)[-1]
    with daemon.client() as client:
        steps = {s["agent_id"]: s for s in client.get(f"/api/runs/{run_id}").json()["steps"]}
    assert steps["writer"]["attempts"] == 1  # committed before the cancel: not run again
