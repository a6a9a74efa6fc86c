"""kill -9 of the daemon in the middle of a workflow started over HTTP: the next start resumes and
completes it, without running a committed step again."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.server.support import Daemon, wait_run, write_project

pytestmark = pytest.mark.slow

CHAIN = """
agents:
  - id: a
    provider: mock
    options: {latency_ms: 350}
  - id: b
    provider: mock
    depends_on: [a]
    options: {latency_ms: 350}
  - id: c
    provider: mock
    depends_on: [b]
    options: {latency_ms: 350}
  - id: d
    provider: mock
    depends_on: [c]
    options: {latency_ms: 350}
workflows:
  - id: chain
    agents: [a, b, c, d]
"""


def run_show(directory: Path, run_id: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "axocoatl", "--data-dir", str(directory / "data"), "runs", "show", run_id, "--json"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_kill_9_at_arbitrary_points_resumes_and_completes(tmp_path: Path) -> None:
    write_project(tmp_path, CHAIN)
    daemon = Daemon(tmp_path).start()
    with daemon.client() as client:
        reference = client.post("/api/workflows/chain/execute", params={"wait": "true"}, json={"input": "ref"}).json()
    assert reference["status"] == "completed"
    # Arbitrary points: before the first step commits, between steps, in the middle of later steps.
    for delay in (0.05, 0.3, 0.55, 0.8, 1.05):
        with daemon.client() as client:
            run_id = client.post("/api/workflows/chain/execute", json={"input": "ref"}).json()["run_id"]
        time.sleep(delay)
        daemon.kill()
        at_kill = run_show(tmp_path, run_id)
        assert at_kill["status"] == "interrupted", at_kill
        done_before = {s["agent_id"]: s for s in at_kill["steps"] if s["status"] == "completed"}

        daemon = Daemon(tmp_path).start()  # auto-resume at start
        with daemon.client() as client:
            run = wait_run(client, run_id, timeout=30)
            events = client.get("/api/events/recent", params={"run": run_id, "limit": 200}).json()
        assert "RunResumed" in [e["type"] for e in events]
        assert run["status"] == "completed", run
        assert run["final_output"] == reference["final_output"]
        steps = {s["agent_id"]: s for s in run["steps"]}
        assert [s["status"] for s in run["steps"]] == ["completed"] * 4
        for agent_id, before in done_before.items():
            # Committed before the kill: never executed again.
            assert steps[agent_id]["attempts"] == 1
            assert steps[agent_id]["output"] == before["output"]
            assert steps[agent_id]["finished_at"] == before["finished_at"]
        # Only the step in flight at the kill ran twice.
        assert sum(s["attempts"] for s in run["steps"]) <= 5
    daemon.stop()
