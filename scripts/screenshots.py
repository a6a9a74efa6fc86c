"""Screenshots of the dashboard, taken from the real page, for README.md and docs/dashboard.md.

    .venv/bin/python scripts/screenshots.py            # rewrite docs/images/dashboard-*.png
    .venv/bin/python scripts/screenshots.py --out DIR  # somewhere else

It writes a small project on the mock provider to a temporary directory, starts `axocoatl serve`
on it (127.0.0.1, a free port), runs a workflow and a chat turn so every view has something to
show, and photographs each view with Debian's chromium through Playwright (as tests/dashboard
does; nothing is downloaded).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

CONFIG = """
agents:
  - id: planner
    provider: mock
    options: {latency_ms: 900}
    memory:
      core:
        blocks:
          - {label: persona, value: "I plan field surveys of river deltas.", limit: 400, description: "who I am"}
          - {label: project, value: "Delta survey, phase 2: sediment cores.", limit: 400, shared: true}
  - id: geologist
    provider: mock
    depends_on: [planner]
    token_budget: {per_execution: 8000, per_day: 4000}
    options: {latency_ms: 1500}
  - id: hydrologist
    provider: mock
    depends_on: [planner]
    token_budget: {per_execution: 8000, per_day: 20000}
    options: {latency_ms: 2500}
  - id: writer
    provider: mock
    depends_on: [geologist, hydrologist]
    tools: [echo]
    options: {latency_ms: 900}
  - id: assistant
    provider: mock
    tools: [echo]
    options:
      tool_calls: [{name: echo, arguments: {text: "tide tables for March"}}]
      reply: "Here is what I found: {tool_result}"
workflows:
  - id: delta-survey
    description: plan, two surveys in parallel, then a report
    agents: [planner, geologist, hydrologist, writer]
schedules:
  - id: nightly-survey
    workflow: delta-survey
    every: 24h
    input: "nightly check of the gauges"
"""


def start_daemon(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    (directory / "axocoatl.yaml").write_text(textwrap.dedent(CONFIG))
    data = directory / "data"
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(REPO / "src")}
    env.pop("AXOCOATL_API_KEY", None)
    command = [sys.executable, "-m", "axocoatl", "--data-dir", str(data), "serve", "--port", "0"]
    log = (directory / "daemon.log").open("wb")
    proc = subprocess.Popen(command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"axocoatl serve exited with {proc.returncode}:\n{(directory / 'daemon.log').read_text()}")
        try:
            info = json.loads((data / "daemon.json").read_text())
        except (OSError, ValueError):
            info = {}
        if info.get("pid") == proc.pid:
            return proc, str(info["url"])
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit("axocoatl serve did not start within 60 s")


def shoot(page: Page, out: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)  # let transitions settle: these are pictures, not tests
    page.screenshot(path=str(out / f"dashboard-{name}.png"))
    print(f"wrote {out / f'dashboard-{name}.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="where the PNGs go")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="axocoatl-shots-") as tmp:
        proc, url = start_daemon(Path(tmp))
        try:
            with httpx.Client(base_url=url, timeout=60) as client:  # some history for the lists and charts
                for task in ("survey the eastern channel", "compare last year's cores"):
                    client.post("/api/workflows/delta-survey/execute", params={"wait": "true"}, json={"input": task})
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(url + "/#/runs")
                expect(page.get_by_role("status").filter(has_text="live")).to_be_visible()
                page.get_by_label("Task").fill("map the western delta after the flood")
                page.get_by_role("button", name="Run workflow").click()
                page.locator('g.node[data-agent="hydrologist"][data-status="running"]').wait_for(timeout=20_000)
                page.locator('g.node[data-agent="geologist"][data-status="completed"]').wait_for(timeout=20_000)
                page.locator('g.node[data-agent="geologist"]').click()
                shoot(page, out, "run-live")
                page.locator('g.node[data-agent="writer"][data-status="completed"]').wait_for(timeout=30_000)
                page.goto(url + "/#/runs")
                shoot(page, out, "runs")
                page.goto(url + "/#/agents/planner")
                shoot(page, out, "agent")
                page.goto(url + "/#/chat/assistant")
                expect(page.get_by_role("status").filter(has_text="live")).to_be_visible()
                page.get_by_role("textbox", name="Message").fill("Find the tide tables for March.")
                page.get_by_role("button", name="Send").click()
                page.locator('.msg[data-done="true"]').wait_for(timeout=20_000)
                page.locator("details.toolcard").first.click()
                shoot(page, out, "chat")
                page.goto(url + "/#/tokens")
                shoot(page, out, "tokens")
                page.goto(url + "/#/schedules")
                shoot(page, out, "schedules")
                page.set_viewport_size({"width": 390, "height": 844})
                page.goto(url + "/#/runs")
                shoot(page, out, "phone")
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
