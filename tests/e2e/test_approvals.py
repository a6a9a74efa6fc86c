"""Approvals as a user meets them: the CLI beside a foreground run, the daemon's HTTP API and WebSocket,
and a daemon killed (-9) while a call waits, restarted, then answered: the call runs once."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.support import ENV, Project, run_cli
from tests.server.support import Daemon, recv_until, wait_run, write_project
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

APPEND = [{"name": "bash", "arguments": {"command": "echo once >> log.txt"}}]


def config(work: Path, *, timeout: float = 120) -> str:
    return textwrap.dedent(
        f"""\
        agents:
          - id: worker
            provider: mock
            tools: [{{name: bash, requires_approval: true}}]
            options: {{tool_calls: {json.dumps(APPEND)}, reply: "saw {{tool_result}}"}}
        workflows:
          - id: job
            agents: [worker]
            workspace: {work}
        approval: {{timeout_secs: {timeout}}}
        """
    )


def test_a_foreground_run_says_how_to_answer_and_the_cli_answers_it(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    project = Project(tmp_path / "project", config(work))
    proc = project.start("workflow", "run", "job", "-i", "go")  # no daemon: the run is in that process

    def pending() -> list[dict[str, Any]]:
        return project.peek("approvals", "list", "--json") or []

    try:
        [request] = wait_for(pending, "the call to wait for approval")
        shown = project.cli("runs", "show", request["run_id"])
        assert shown.returncode == 0, shown.stderr
        assert "worker — awaiting_approval" in shown.stdout
        # The hint names this project (-c, --data-dir), so it works pasted from any directory.
        words = ["axocoatl", "-c", str(project.config), "--data-dir", str(project.data)]
        hint = shlex.join([*words, "approvals", "allow", request["approval_id"]])
        assert f"awaiting approval: {hint}" in shown.stdout
        assert not (work / "log.txt").exists()
        allowed = run_cli(*shlex.split(hint)[1:], cwd=tmp_path)
        assert allowed.returncode == 0, allowed.stderr
        assert f"{request['approval_id']}: bash allowed" in allowed.stdout
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "waits for approval" in out and f"allow: {hint}" in out
    assert (work / "log.txt").read_text() == "once\n"
    again = project.cli("approvals", "allow", request["approval_id"])
    assert again.returncode == 2 and "already decided: allowed by user" in again.stderr
    unknown = project.cli("approvals", "deny", "appr-nope")
    assert unknown.returncode == 3 and "no approval request 'appr-nope'" in unknown.stderr
    shown = project.cli("runs", "show", request["run_id"])
    assert "✓ [1.0.0] bash" in shown.stdout and "— done" in shown.stdout


def test_an_unanswered_call_is_denied_and_the_model_is_told(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    project = Project(tmp_path / "project", config(work, timeout=1))
    result = project.cli("workflow", "run", "job", "-i", "go", "--json")
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert "no decision within 1 s (approval.timeout_secs)" in run["steps"][0]["output"]
    assert not (work / "log.txt").exists()
    [request] = json.loads(project.cli("approvals", "list", "--all", "--json").stdout)
    assert (request["status"], request["decided_by"]) == ("denied", "timeout")
    assert project.cli("approvals", "list").stdout.strip() == "no call is waiting for approval"


def test_the_daemon_api_and_websocket_park_decide_and_resume(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    write_project(tmp_path, config(work))
    daemon = Daemon(tmp_path).start()
    try:
        with daemon.client() as client, daemon.ws() as ws:
            ws.send(json.dumps({"cmd": "subscribe", "runs": "*"}))
            recv_until(ws, "snapshot")
            run_id = client.post("/api/workflows/job/execute", json={"input": "go"}).json()["run_id"]
            required, _ = recv_until(ws, "approval-required", run_id=run_id)
            assert (required["agent_id"], required["tool"], required["status"]) == ("worker", "bash", "pending")
            step, _ = recv_until(ws, "step-status", run_id=run_id, status="awaiting_approval")
            assert step["approval_id"] == required["approval_id"]
            assert client.get(f"/api/runs/{run_id}").json()["steps"][0]["status"] == "awaiting_approval"
            [listed] = client.get("/api/approvals", params={"status": "pending"}).json()
            assert listed["approval_id"] == required["approval_id"]
            [call] = client.get(f"/api/runs/{run_id}/tool-calls").json()
            assert (call["status"], call["approval_id"]) == ("awaiting_approval", required["approval_id"])

            bad = client.post(f"/api/approvals/{required['approval_id']}", json={"decision": "maybe"})
            assert bad.status_code == 422
            ws.send(json.dumps({"cmd": "approve", "approval_id": "appr-nope", "decision": "allow", "ref": 1}))
            error, _ = recv_until(ws, "error", ref=1)
            assert "no approval request 'appr-nope'" in error["message"]
            ws.send(
                json.dumps(
                    {
                        "cmd": "approve",
                        "approval_id": required["approval_id"],
                        "decision": "deny",
                        "reason": "not today",
                        "ref": 2,
                    }
                )
            )
            decided, _ = recv_until(ws, "approval-decided", ref=2)
            assert (decided["status"], decided["reason"]) == ("denied", "not today")
            resolved, _ = recv_until(ws, "approval-resolved", run_id=run_id)
            assert resolved["status"] == "denied"
            run = wait_run(client, run_id)
            assert run["status"] == "completed"
            assert "denied by the user: not today" in run["steps"][0]["output"]
            again = client.post(f"/api/approvals/{required['approval_id']}", json={"decision": "allow"})
            assert again.status_code == 409 and "already decided" in again.json()["error"]
            assert client.post("/api/approvals/appr-nope", json={"decision": "allow"}).status_code == 404

            # Saved by scope over HTTP: the next run's call is decided without asking.
            second = client.post("/api/workflows/job/execute", json={"input": "again"}).json()["run_id"]
            pending = wait_for(lambda: client.get("/api/approvals?status=pending").json(), "the second call")
            decided = client.post(
                f"/api/approvals/{pending[0]['approval_id']}", json={"decision": "allow", "scope": "agent_tool"}
            )
            assert decided.status_code == 200 and decided.json()["scope"] == "agent_tool"
            assert wait_run(client, second)["status"] == "completed"
            third = client.post("/api/workflows/job/execute", params={"wait": "true"}, json={"input": "3"}).json()
            assert third["status"] == "completed"
            statuses = [(r["status"], r["decided_by"]) for r in client.get("/api/approvals").json()]
            assert statuses == [("allowed", "rule"), ("allowed", "user"), ("denied", "user")]
    finally:
        daemon.stop()
    assert (work / "log.txt").read_text() == "once\nonce\n"


def test_a_call_answered_after_the_daemon_was_killed_and_restarted_runs_once(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    write_project(tmp_path, config(work))
    daemon = Daemon(tmp_path).start()
    with daemon.client() as client:
        run_id = client.post("/api/workflows/job/execute", json={"input": "go"}).json()["run_id"]
        [request] = wait_for(lambda: client.get("/api/approvals?status=pending").json(), "the call to wait")
    daemon.kill()  # SIGKILL while the call waits

    restarted = Daemon(tmp_path).start()  # resumes the run: the step asks again and finds its request
    try:
        with restarted.client() as client:
            run = wait_for(
                lambda: (
                    (r := client.get(f"/api/runs/{run_id}").json())["steps"][0]["status"] == "awaiting_approval" and r
                ),
                "the resumed step to wait again",
            )
            assert run["steps"][0]["attempts"] == 2
            [again] = client.get("/api/approvals?status=pending").json()
            assert again["approval_id"] == request["approval_id"]  # the same request, with its first deadline
            assert again["expires_at"] == request["expires_at"]
            allowed = run_cli(
                "--data-dir", str(restarted.data_dir), "approvals", "allow", request["approval_id"], cwd=tmp_path
            )
            assert allowed.returncode == 0, allowed.stderr
            run = wait_run(client, run_id)
    finally:
        restarted.stop()
    assert run["status"] == "completed"
    assert run["steps"][0]["output"].startswith('saw {"exit_code": 0')
    assert (work / "log.txt").read_text() == "once\n"  # the side effect happened once


def test_a_request_left_by_a_killed_run_is_denied_once_its_deadline_passed(tmp_path: Path) -> None:
    """Nobody waits for it any more (no daemon): listing it after its deadline denies it, by the created time."""
    work = tmp_path / "work"
    work.mkdir()
    # The deadline leaves a loaded machine time to see the request pending before the run denies it.
    project = Project(tmp_path / "project", config(work, timeout=6))
    proc = project.start("workflow", "run", "job", "-i", "go", "--json")
    try:
        [request] = wait_for(lambda: project.peek("approvals", "list", "--json"), "the call to wait")
    finally:
        proc.kill()
        proc.communicate()
    time.sleep(6.1)  # the deadline runs from the request's creation, before it was seen
    [listed] = json.loads(project.cli("approvals", "list", "--all", "--json").stdout)
    assert listed["approval_id"] == request["approval_id"]
    assert (listed["status"], listed["decided_by"]) == ("denied", "timeout")
    resumed = project.cli("runs", "resume", request["run_id"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert "no decision within 6 s" in json.loads(resumed.stdout)["steps"][0]["output"]
    assert not (work / "log.txt").exists()


def test_a_chat_through_the_daemon_says_which_call_waits_and_goes_on_once_allowed(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    write_project(tmp_path, config(work).replace("workflows:", "    workspace: work\nworkflows:", 1))
    daemon = Daemon(tmp_path).start()
    try:
        chat = subprocess.Popen(
            [sys.executable, "-m", "axocoatl", "--data-dir", str(daemon.data_dir), "chat", "-a", "worker", "-m", "go"],
            cwd=tmp_path,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with daemon.client() as client:
            [request] = wait_for(lambda: client.get("/api/approvals?status=pending").json(), "the chat's call to wait")
            assert (request["run_id"], request["thread"]) == (None, "main")
            decided = client.post(f"/api/approvals/{request['approval_id']}", json={"decision": "allow"})
            assert decided.status_code == 200
        out, err = chat.communicate(timeout=60)
    finally:
        daemon.stop()
    assert chat.returncode == 0, err
    assert "worker wants to call bash and waits for approval" in out
    assert f"axocoatl --data-dir {daemon.data_dir} approvals allow {request['approval_id']}" in out
    assert (work / "log.txt").read_text() == "once\n"


def test_a_daemon_stopped_while_a_call_waits_leaves_the_run_to_resume_still_waiting(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    write_project(tmp_path, config(work))
    daemon = Daemon(tmp_path).start()
    with daemon.client() as client:
        run_id = client.post("/api/workflows/job/execute", json={"input": "go"}).json()["run_id"]
        [request] = wait_for(lambda: client.get("/api/approvals?status=pending").json(), "the call to wait")
    assert daemon.stop() == 0  # SIGTERM: the waiting run cannot end by itself, so it is left, not waited for
    assert f"left 1 run(s) to resume at the next start: {run_id}" in daemon.log()

    restarted = Daemon(tmp_path).start()
    try:
        with restarted.client() as client:
            wait_for(
                lambda: client.get(f"/api/runs/{run_id}").json()["steps"][0]["status"] == "awaiting_approval",
                "the resumed step to wait again",
            )
            denied = client.post(f"/api/approvals/{request['approval_id']}", json={"decision": "deny", "reason": "no"})
            assert denied.status_code == 200
            run = wait_run(client, run_id)
    finally:
        restarted.stop()
    assert "denied by the user: no" in run["steps"][0]["output"]
    assert not (work / "log.txt").exists()
