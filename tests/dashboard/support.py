"""Debian's chromium driven by Playwright: nothing is downloaded, the daemon runs in a subprocess."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"

DASHBOARD_CONFIG = """
agents:
  - id: assistant
    provider: mock
    tools: [echo]
    options:
      reply: "Hello from {agent}: {input}"
    memory:
      core:
        blocks:
          - {label: persona, value: "I am a helpful assistant.", limit: 200, description: "who I am"}
  - id: tooler
    provider: mock
    tools: [echo]
    options:
      tool_calls: [{name: echo, arguments: {text: ping}}]
      reply: "tool said {tool_result}"
  # Slow enough that a loaded machine still sees each step running on the page.
  - id: researcher
    provider: mock
    options: {latency_ms: 2000}
  - id: critic
    provider: mock
    options: {latency_ms: 2000}
  - id: summarizer
    provider: mock
    depends_on: [researcher, critic]
    token_budget: {per_execution: 4000, per_day: 5000}
    options: {latency_ms: 1500}
  - id: slowpoke
    provider: mock
    options: {latency_ms: 4000}
  - id: flaky
    provider: mock
    options: {fail: true}
  - id: writer
    provider: mock
    options: {reply: "Draft: {input_head}"}
  - id: editor
    provider: mock
    depends_on: [writer]
    interrupt: {when: after, question: "Publish this draft?"}
  - id: publisher
    provider: mock
    depends_on: [editor]
  - id: guarded
    provider: mock
    tools: [{name: echo, requires_approval: true}]
    options:
      tool_calls: [{name: echo, arguments: {text: launch}}]
      reply: "echo said {tool_result}"
workflows:
  - id: guarded-job
    agents: [guarded]
  - id: post
    agents: [writer, editor, publisher]
  - id: research
    agents: [researcher, critic, summarizer]
  - id: fails
    agents: [flaky]
schedules:
  - id: nightly
    workflow: research
    every: 24h
    input: "the nightly check"
"""


def launch(playwright: Playwright) -> Browser:
    """Chromium from apt (scripts/setup.sh installs it); a missing browser fails the test, it never skips."""
    if shutil.which(CHROMIUM) is None:
        raise AssertionError(f"{CHROMIUM} is missing: run scripts/setup.sh (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical axe-core findings; axe is evaluated through DevTools, the page's CSP stays as served."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
