"""`axocoatl runs cancel` and POST /api/runs/{id}/cancel, with real processes: a foreground `workflow run`
cancelled from another process, a run in the daemon, a waiting run, a run whose owner died; then resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import run_cli
from tests.server.support import Daemon, write_project
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

SLOW_MS = 600_000  # step b never finishes by itself: only a cancel ends the run


def chain(b_latency_ms: int) -> str:
    return textwrap.dedent(
        f"""
        agents:
          - id: a
            provider: mock
            options: {{latency_ms: 50}}
          - id: b
            provider: mock
            depends_on: [a]
            options: {{latency_ms: {b_latency_ms}}}
          - id: c
            provider: mock
            depends_on: [b]
        workflows:
          - id: chain
            agents: [a, b, c]
        """
    )


def cli(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("--data-dir", str(directory / "data"), *args, cwd=directory)


def show(directory: Path, run_id: str) -> dict[str, Any]:
    result = cli(directory, "runs", "show", run_id, "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def running_b(directory: Path) -> str:
    """The id of the one run, once its step a committed and b runs."""

    def probe() -> str | None:
        result = cli(directory, "runs", "list", "--json")
        runs = json.loads(result.stdout) if result.returncode == 0 and result.stdout.strip() else []
        if not runs:
            return None
        run = show(directory, runs[0]["run_id"])
        steps = {s["agent_id"]: s["status"] for s in run["steps"]}
        return run["run_id"] if steps["a"] == "completed" and steps["b"] == "running" else None

    found: str = wait_for(probe, "step b to run")
    return found


def steps_of(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["agent_id"]: s for s in run["steps"]}


def test_cancel_a_foreground_run_from_another_process_then_resume_it(tmp_path: Path) -> None:
    (tmp_path / "axocoatl.yaml").write_text(chain(SLOW_MS))
    env = {**os.environ, "NO_COLOR": "1"}
    command = [sys.executable, "-m", "axocoatl", "--data-dir", str(tmp_path / "data")]
    foreground = subprocess.Popen(
        [*command, "workflow", "run", "chain", "-i", "go", "--json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = running_b(tmp_path)
        # A prefix names the run; the command returns once the owner stopped it.
        cancelled = cli(tmp_path, "runs", "cancel", run_id[:-3], "--json")
        assert cancelled.returncode == 0, cancelled.stderr
        data = json.loads(cancelled.stdout)
        assert data["run_id"] == run_id and data["status"] == "cancelled"
        out, err = foreground.communicate(timeout=60)
    finally:
        if foreground.poll() is None:
            foreground.kill()
            foreground.wait()
    assert foreground.returncode == 1, err  # the run did not complete
    assert json.loads(out)["status"] == "cancelled"
    run = show(tmp_path, run_id)
    steps = steps_of(run)
    assert run["status"] == "cancelled" and run["error"] == "run cancelled"
    assert steps["a"]["status"] == "completed" and steps["a"]["attempts"] == 1
    assert steps["b"]["status"] == "cancelled" and steps["b"]["output"] is None
    assert steps["c"]["status"] == "pending"
    listed = json.loads(cli(tmp_path, "runs", "list", "--json").stdout)
    assert listed[0]["status"] == "cancelled"
    text = cli(tmp_path, "runs", "show", run_id)
    assert f"run {run_id} cancelled" in text.stdout and "runs resume" in text.stdout

    # Cancelled again: it already ended (a usage error, exit 2), and nothing changes.
    again = cli(tmp_path, "runs", "cancel", run_id)
    assert again.returncode == 2 and "already ended (cancelled)" in again.stderr
    assert cli(tmp_path, "runs", "cancel", "no-such-run").returncode == 3

    # Resumable: b runs again (fast now), a is not run again.
    (tmp_path / "axocoatl.yaml").write_text(chain(50))
    resumed = cli(tmp_path, "runs", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    run = json.loads(resumed.stdout)
    steps = steps_of(run)
    assert run["status"] == "completed" and run["error"] is None
    assert [steps[a]["status"] for a in "abc"] == ["completed"] * 3
    assert steps["a"]["attempts"] == 1


def test_cancel_a_run_whose_owner_died(tmp_path: Path) -> None:
    (tmp_path / "axocoatl.yaml").write_text(chain(SLOW_MS))
    command = [sys.executable, "-m", "axocoatl", "--data-dir", str(tmp_path / "data")]
    foreground = subprocess.Popen(
        [*command, "workflow", "run", "chain", "-i", "go", "--json"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        run_id = running_b(tmp_path)
    finally:
        foreground.send_signal(signal.SIGKILL)
        foreground.wait()
    assert show(tmp_path, run_id)["status"] == "interrupted"
    cancelled = cli(tmp_path, "runs", "cancel", run_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"run {run_id} cancelled" in cancelled.stdout
    steps = steps_of(show(tmp_path, run_id))
    assert [steps[a]["status"] for a in "abc"] == ["completed", "cancelled", "pending"]


def test_cancel_through_the_daemon_api(tmp_path: Path) -> None:
    write_project(tmp_path, chain(SLOW_MS))
    daemon = Daemon(tmp_path).start()
    try:
        with daemon.client() as client:
            run_id = client.post("/api/workflows/chain/execute", json={"input": "go"}).json()["run_id"]

            def b_runs() -> bool:
                steps = steps_of(client.get(f"/api/runs/{run_id}").json())
                return bool(steps["a"]["status"] == "completed" and steps["b"]["status"] == "running")

            wait_for(b_runs, "step b to run")
            with daemon.ws() as ws:
                ws.send(json.dumps({"cmd": "subscribe", "runs": [run_id]}))
                while json.loads(ws.recv(timeout=30))["kind"] != "snapshot":  # ready, subscribed, then it
                    pass
                response = client.post(f"/api/runs/{run_id}/cancel")
                assert response.status_code == 200, response.text
                seen: list[dict[str, Any]] = []
                while not any(f["kind"] == "run-status" for f in seen):
                    seen.append(json.loads(ws.recv(timeout=30)))
                seen.append(json.loads(ws.recv(timeout=30)))  # the step-status right after it
            status = next(f for f in seen if f["kind"] == "run-status")
            assert (status["status"], status["error"]) == ("cancelled", "run cancelled")
            assert {"kind": "step-status", "agent_id": "b", "status": "cancelled"}.items() <= seen[-1].items()
            run = response.json()
            assert run["status"] == "cancelled"
            assert [steps_of(run)[a]["status"] for a in "abc"] == ["completed", "cancelled", "pending"]
            assert client.get("/api/runs", params={"status": "cancelled"}).json()[0]["run_id"] == run_id
            again = client.post(f"/api/runs/{run_id}/cancel")
            assert again.status_code == 409 and "already ended" in again.json()["error"]
            assert client.post("/api/runs/no-such-run/cancel").status_code == 404
            events = client.get("/api/events/recent", params={"run": run_id, "limit": 200}).json()
            assert "RunCancelled" in [e["type"] for e in events]
        # The CLI goes through the daemon: the same refusal, the same exit code as in-process.
        refused = cli(tmp_path, "runs", "cancel", run_id)
        assert refused.returncode == 2 and "already ended" in refused.stderr
    finally:
        daemon.stop()


def test_cancel_a_waiting_run_then_resume_it_waits_again(tmp_path: Path) -> None:
    (tmp_path / "axocoatl.yaml").write_text(
        textwrap.dedent(
            """
            agents:
              - id: draft
                provider: mock
              - id: review
                provider: mock
                depends_on: [draft]
                interrupt: before
            workflows:
              - id: flow
                agents: [draft, review]
            """
        )
    )
    started = cli(tmp_path, "workflow", "run", "flow", "-i", "go", "--json")
    assert started.returncode == 0, started.stderr
    run = json.loads(started.stdout)
    assert run["status"] == "waiting"
    cancelled = cli(tmp_path, "runs", "cancel", run["run_id"], "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    data = json.loads(cancelled.stdout)
    assert data["status"] == "cancelled"
    assert steps_of(data)["draft"]["status"] == "completed"
    resumed = cli(tmp_path, "runs", "resume", run["run_id"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    again = json.loads(resumed.stdout)
    assert again["status"] == "waiting" and steps_of(again)["review"]["status"] == "waiting"
    assert steps_of(again)["draft"]["attempts"] == 1
    answered = cli(tmp_path, "runs", "answer", run["run_id"], "-m", "ok", "--json")
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)["status"] == "completed"
