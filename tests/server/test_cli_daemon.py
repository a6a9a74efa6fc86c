"""The CLI beside a running daemon: runs, resumes, skills and reports go through its HTTP API.

Real processes: `axocoatl serve` (or `dev`) in a subprocess on 127.0.0.1, and the CLI as
subprocesses beside it. The daemon must stay healthy: every run it drove completes (or
fails on purpose), its agents end idle.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import run_cli
from tests.server.support import Daemon, wait_run, write_project

pytestmark = pytest.mark.slow

CONFIG = """
agents:
  - id: researcher
    provider: mock
    options: {latency_ms: 300, reply: "notes on {input_head}"}
  - id: summarizer
    provider: mock
    depends_on: [researcher]
    options: {latency_ms: 300}
  - id: flaky
    provider: mock
    options: {fail_when: "please fail"}
  - id: responder
    provider: mock
    options: {reply: "responding to {input_head}"}
  - id: slow
    provider: mock
    options: {latency_ms: 2500}
  - id: slower
    provider: mock
    depends_on: [slow]
    options: {latency_ms: 2500}
skills:
  - id: alert
    emits: [alarm]
  - id: respond
    reacts_to: [alarm]
    agents: [responder]
  - id: shout
    emits: [nobody-listens]
workflows:
  - id: research
    agents: [researcher, summarizer]
  - id: fragile
    agents: [flaky]
  - id: long
    agents: [slow, slower]
consolidation: {enabled: false}  # no background ledger writes between two reports
"""
ENV = {"NO_COLOR": "1", "COLUMNS": "200", "AXOCOATL_EMBEDDER": "hashed", "PYTHONUNBUFFERED": "1"}
MOMENTS = ("run_id", "started_at", "finished_at")


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "axocoatl", "--data-dir", "data", *args]


def cli(directory: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("--data-dir", "data", *args, cwd=directory, env={**ENV, **(env or {})})


def cli_json(directory: Path, *args: str, code: int = 0) -> Any:
    result = cli(directory, *args)
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout)


def access_lines(daemon: Daemon, method_and_path: str) -> int:
    return daemon.log().count(f"{method_and_path} 200")


def assert_healthy(daemon: Daemon) -> None:
    """No run left running, every run completed (`fragile` ones may have failed on purpose), agents idle."""
    with daemon.client() as client:
        deadline = time.monotonic() + 60
        while client.get("/api/runs", params={"status": "running"}).json() and time.monotonic() < deadline:
            time.sleep(0.05)
        runs = client.get("/api/runs", params={"limit": 1000}).json()
        agents = client.get("/api/agents").json()
        statuses = {a["id"]: client.get(f"/api/agents/{a['id']}/status").json() for a in agents}
    for run in runs:
        allowed = ("completed", "failed") if run["workflow_id"] == "fragile" else ("completed",)
        assert run["status"] in allowed, run
    for agent_id, status in statuses.items():
        if agent_id == "flaky":
            assert status["status"] in ("idle", "failed"), status
        else:
            assert status["status"] == "idle", status
        assert status["queued"] == 0 and status["supervision"]["restarts"] == 0, status


def normalized(run: dict[str, Any]) -> dict[str, Any]:
    """A run without what differs between two runs of the same input: ids, times, token counts."""
    steps = [
        {k: v for k, v in step.items() if k not in MOMENTS and k != "tokens"} | {"tokens": sorted(step["tokens"])}
        for step in run["steps"]
    ]
    return {k: v for k, v in run.items() if k not in MOMENTS} | {"steps": steps}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Daemon]]:
    directory = write_project(tmp_path_factory.mktemp("served"), CONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AXOCOATL_EMBEDDER", "hashed")
        daemon = Daemon(directory).start()
    yield directory, daemon
    daemon.stop()


# --------------------------------------------------------------------------------- workflow run


def test_concurrent_workflow_runs_go_through_the_daemon(served: tuple[Path, Daemon]) -> None:
    directory, daemon = served
    full_env = {**os.environ, **ENV}
    procs = [
        subprocess.Popen(
            command("workflow", "run", "research", "-i", f"topic {n}", "--json"),
            cwd=directory,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    results = [(p.communicate(timeout=120), p.returncode) for p in procs]
    runs = []
    for (out, err), code in results:
        assert code == 0, err
        runs.append(json.loads(out))
    assert len({r["run_id"] for r in runs}) == 4
    assert sorted(r["steps"][0]["output"] for r in runs) == [f"notes on topic {n}" for n in range(4)]
    with daemon.client() as client:
        for run in runs:
            assert run["status"] == "completed"
            assert [(s["agent_id"], s["status"], s["attempts"]) for s in run["steps"]] == [
                ("researcher", "completed", 1),
                ("summarizer", "completed", 1),
            ]
            assert client.get(f"/api/runs/{run['run_id']}").json() == run  # the daemon's own record
    assert access_lines(daemon, "POST /api/workflows/research/execute") >= 4
    assert_healthy(daemon)


def test_json_output_is_the_same_as_in_process(served: tuple[Path, Daemon], tmp_path: Path) -> None:
    directory, _ = served
    alone = write_project(tmp_path / "alone", CONFIG)
    through_daemon = cli_json(directory, "workflow", "run", "research", "-i", "parity", "--json")
    in_process = cli_json(alone, "workflow", "run", "research", "-i", "parity", "--json")
    assert list(through_daemon) == list(in_process)
    assert [list(s) for s in through_daemon["steps"]] == [list(s) for s in in_process["steps"]]
    assert normalized(through_daemon) == normalized(in_process)
    for step in through_daemon["steps"]:
        assert step["tokens"]["input"] > 0 and step["tokens"]["output"] > 0
    # Failed runs: the same document and exit code 1 both ways.
    failed_daemon = cli_json(directory, "workflow", "run", "fragile", "-i", "please fail", "--json", code=1)
    failed_alone = cli_json(alone, "workflow", "run", "fragile", "-i", "please fail", "--json", code=1)
    assert normalized(failed_daemon) == normalized(failed_alone)
    assert failed_daemon["status"] == "failed" and "asked to fail" in failed_daemon["steps"][0]["error"]


def test_live_view_through_the_daemon(served: tuple[Path, Daemon]) -> None:
    directory, daemon = served
    result = cli(directory, "workflow", "run", "research", "-i", "live view")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("run run-") < out.index("▶ researcher started") < out.index("✓ researcher finished")
    assert out.index("✓ researcher finished") < out.index("▶ summarizer started") < out.index("✓ summarizer finished")
    assert "notes on live view" in out  # the final output panel
    assert "completed" in out and "2/2 steps" in out
    assert "resume" not in result.stderr
    assert_healthy(daemon)


def test_errors_through_the_daemon_keep_the_in_process_exit_codes(served: tuple[Path, Daemon]) -> None:
    directory, _ = served
    unknown = cli(directory, "workflow", "run", "reserch", "-i", "x", "--json")
    failed = cli(directory, "workflow", "run", "fragile", "-i", "please fail now")
    assert unknown.returncode == 3 and unknown.stdout == ""  # not found, as in-process
    assert "unknown workflow 'reserch'" in unknown.stderr and "did you mean 'research'" in unknown.stderr
    assert failed.returncode == 1
    assert "✗ flaky failed" in failed.stdout and "failed" in failed.stdout


def test_ctrl_c_leaves_the_run_to_the_daemon(served: tuple[Path, Daemon]) -> None:
    directory, daemon = served
    proc = subprocess.Popen(
        command("workflow", "run", "long", "-i", "interrupt me"),
        cwd=directory,
        env={**os.environ, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # "run RUN_ID": the daemon has started the run
    assert first.startswith("run run-"), first
    run_id = first.split()[1]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "final output" not in out and "completed in" not in out  # interrupted mid-run
    assert f"run {run_id} keeps running in the daemon at {daemon.url}" in err
    assert "axocoatl" in err and f"runs show {run_id}" in err
    assert "runs resume" not in err
    with daemon.client() as client:
        run = wait_run(client, run_id, timeout=60)
    assert run["status"] == "completed"
    assert [(s["agent_id"], s["attempts"]) for s in run["steps"]] == [("slow", 1), ("slower", 1)]
    shown = cli_json(directory, "runs", "show", run_id, "--json")
    assert shown == run
    assert_healthy(daemon)


# ---------------------------------------------------------------------------- skills, reports


def test_skills_fire_through_the_daemon(served: tuple[Path, Daemon], tmp_path: Path) -> None:
    directory, daemon = served
    run = cli_json(directory, "skills", "fire", "alert", "-i", "smoke", "--json")
    assert run["workflow_id"] == "skill:alert" and run["status"] == "completed"
    assert [(s["agent_id"], s["status"], s["output"]) for s in run["steps"]] == [
        ("responder", "completed", "responding to smoke")
    ]
    assert access_lines(daemon, "POST /api/skills/alert/fire") == 1
    unknown = cli(directory, "skills", "fire", "alrt")
    assert unknown.returncode == 3 and "unknown skill 'alrt'" in unknown.stderr
    assert "did you mean 'alert'" in unknown.stderr
    # A skill nobody reacts to is the same usage error (exit 2) through the daemon and in-process.
    alone = write_project(tmp_path / "alone", CONFIG)
    for where in (directory, alone):
        silent = cli(where, "skills", "fire", "shout")
        assert silent.returncode == 2, silent.stderr
        assert "no agent holds a skill reacting to them" in silent.stderr
    assert_healthy(daemon)


def test_tokens_report_json_is_the_daemon_report(served: tuple[Path, Daemon]) -> None:
    directory, daemon = served
    cli_json(directory, "workflow", "run", "research", "-i", "spend", "--json")
    with daemon.client() as client:
        api = client.get("/api/tokens/report").json()
        api_one = client.get("/api/tokens/report", params={"agent": "researcher"}).json()
        api_future = client.get("/api/tokens/report", params={"since": "2999-01-01"}).json()
    assert cli_json(directory, "tokens", "report", "--json") == api
    assert cli_json(directory, "tokens", "report", "--json", "--agent", "researcher") == api_one
    assert cli_json(directory, "tokens", "report", "--json", "--since", "2999-01-01") == api_future
    assert set(api) == {"since", "agent", "agents", "totals"}
    assert api_one["agent"] == "researcher" and [a["agent_id"] for a in api_one["agents"]] == ["researcher"]
    assert api_future == {
        "since": "2999-01-01T00:00:00.000Z",
        "agent": None,
        "agents": [],
        "totals": {"input": 0, "output": 0, "total": 0, "calls": 0},
    }
    table = cli(directory, "tokens", "report")
    assert table.returncode == 0 and "researcher" in table.stdout and str(api["totals"]["total"]) in table.stdout
    assert access_lines(daemon, "GET /api/tokens/report") >= 4


def test_agents_status_through_the_daemon_is_idle(served: tuple[Path, Daemon]) -> None:
    directory, daemon = served
    statuses = cli_json(directory, "agents", "status", "--json")
    with daemon.client() as client:
        ids = [a["id"] for a in client.get("/api/agents").json()]
    assert [s["agent_id"] for s in statuses] == ids
    assert all(s["status"] in ("idle", "failed") for s in statuses)
    assert {s["agent_id"]: s["status"] for s in statuses}["researcher"] == "idle"
    assert access_lines(daemon, "GET /api/agents/researcher/status") >= 1


# -------------------------------------------------------------------------------- runs resume


def test_runs_resume_of_a_failed_run_through_the_daemon(tmp_path: Path) -> None:
    directory = write_project(tmp_path, CONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AXOCOATL_EMBEDDER", "hashed")
        daemon = Daemon(directory, mode="dev").start()  # dev: reloads the fixed config below
    try:
        failed = cli_json(directory, "workflow", "run", "fragile", "-i", "please fail", "--json", code=1)
        run_id = failed["run_id"]
        again = cli_json(directory, "runs", "resume", run_id, "--json", code=1)  # still failing: exit 1
        assert again["status"] == "failed" and again["steps"][0]["attempts"] == 2
        (directory / "axocoatl.yaml").write_text(
            (directory / "axocoatl.yaml").read_text().replace('{fail_when: "please fail"}', "{}")
        )
        deadline = time.monotonic() + 60
        while "config reloaded" not in daemon.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "config reloaded" in daemon.log(), daemon.log()
        resumed = cli(directory, "runs", "resume", run_id)
        assert resumed.returncode == 0, resumed.stderr
        assert f"run {run_id} (resumed)" in resumed.stdout and "▶ flaky started" in resumed.stdout
        shown = cli_json(directory, "runs", "show", run_id, "--json")
        assert shown["status"] == "completed" and shown["steps"][0]["attempts"] == 3
        done = cli(directory, "runs", "resume", run_id, "--json")
        assert done.returncode == 2 and "already completed" in done.stderr and done.stdout == ""
        missing = cli(directory, "runs", "resume", "run-nope")
        assert missing.returncode == 3 and "no run 'run-nope'" in missing.stderr  # not found, never asked
        assert access_lines(daemon, f"POST /api/runs/{run_id}/resume") == 2
        assert_healthy(daemon)
        with daemon.client() as client:
            report = client.get("/api/tokens/report").json()
    finally:
        daemon.stop()
    # The same report in-process once the daemon is gone: one shape, one ledger.
    assert not (directory / "data" / "daemon.json").exists()
    assert cli_json(directory, "tokens", "report", "--json") == report


# --------------------------------------------------------------- a daemon that does not answer


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_daemon_that_does_not_answer_is_an_error_never_a_fallback(tmp_path: Path) -> None:
    directory = write_project(tmp_path, CONFIG)
    data = directory / "data"
    data.mkdir()
    # A live process that owns the data dir but does not listen: a daemon still starting, or hung.
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    port = _closed_port()
    url = f"http://127.0.0.1:{port}"
    (data / "daemon.json").write_text(json.dumps({"pid": owner.pid, "host": "127.0.0.1", "port": port}))
    try:
        for args in (
            ("workflow", "run", "research", "-i", "x"),
            ("workflow", "run", "research", "-i", "x", "--json"),
            ("runs", "resume", "run-x"),
            ("skills", "fire", "alert"),
            ("tokens", "report", "--json"),
            ("agents", "status"),
        ):
            result = cli(directory, *args)
            assert result.returncode == 1, (args, result.stderr)
            assert result.stdout == "", args
            assert f"does not answer at {url}" in result.stderr, (args, result.stderr)
            assert f"kill -TERM {owner.pid}" in result.stderr and "daemon.json" in result.stderr
        assert sorted(p.name for p in data.iterdir()) == ["daemon.json"]  # the database was never opened
        # --mock is a dry run in this process: it never asks the daemon.
        mock = cli(directory, "--mock", "workflow", "run", "research", "-i", "dry", "--json")
        assert mock.returncode == 0, mock.stderr
        assert json.loads(mock.stdout)["status"] == "completed"
        assert f"--mock runs in this process, not in the daemon at {url}" in mock.stderr
    finally:
        owner.kill()
        owner.wait(10)
    # Its process gone, the file is stale and ignored: the run happens in-process.
    alone = cli(directory, "workflow", "run", "research", "-i", "stale", "--json")
    assert alone.returncode == 0, alone.stderr
    assert json.loads(alone.stdout)["status"] == "completed"
