"""A coordinator run on the dashboard: its plan's subtasks and the auction's bids."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from tests.dashboard.support import axe_violations
from tests.server.support import Daemon, running_daemon

pytestmark = pytest.mark.slow

CONFIG = """
agents:
  - {id: lead, provider: mock, role: coordinator}
  - {id: scout, provider: mock, role: worker}
  - {id: editor, provider: mock, role: worker}
workflows:
  - id: brief
    agents: [lead, scout, editor]
    htn_methods_file: methods.yaml
    goal_task: brief
"""
METHODS = """
- task_pattern: brief
  subtasks:
    - name: facts
      parameters: {description: "Three key facts about: {goal}"}
    - name: draft
      parameters: {description: "A short draft about: {goal}"}
      after: [facts]
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    directory = tmp_path_factory.mktemp("dash-coord")
    (directory / "methods.yaml").write_text(textwrap.dedent(METHODS))
    with running_daemon(directory, CONFIG) as d:
        yield d


def test_the_plan_and_its_bids(page: Page, daemon: Daemon) -> None:
    with daemon.client() as client:
        run = client.post("/api/workflows/brief/execute", params={"wait": "true"}, json={"input": "tides"}).json()
    assert run["status"] == "completed", run
    page.goto(f"{daemon.url}/#/runs/{run['run_id']}")
    plan = page.get_by_role("region", name="Coordinator plan")
    expect(plan).to_contain_text("lead · htn · root task brief")
    for task in run["plan"]["tasks"]:
        row = plan.locator(f'tr[data-task="{task["id"]}"]')
        expect(row).to_contain_text(task["worker"])
        expect(row.locator(".badge")).to_have_text("completed")
    expect(plan.locator('tr[data-task="draft"]')).to_contain_text("facts")  # its `after`
    bids = plan.get_by_role("region", name="Bids")
    expect(bids.locator("tbody tr")).to_have_count(len(run["plan"]["bids"]))
    first = run["plan"]["bids"][0]
    expect(bids.locator("tbody tr").first).to_contain_text(f"{first['bids'][0]['worker']} {first['bids'][0]['score']}")
    assert axe_violations(page) == []
