"""One project, many processes: CLI runs at once on one data dir, shared budgets, a daemon beside them.

Every process here is a real `python -m axocoatl` subprocess on the same data dir, the way a user
starts several commands from different terminals (or cron) at the same time.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.support import TASK, Project

pytestmark = pytest.mark.slow

CHAIN = """
agents:
  - id: first
    provider: mock
    options: {latency_ms: 150, reply: "first on {input_head}"}
  - id: second
    provider: mock
    depends_on: [first]
    options: {latency_ms: 150, reply: "second on {input_head}"}
  - id: third
    provider: mock
    depends_on: [second]
    options: {latency_ms: 150, reply: "third on {input_head}"}
workflows:
  - id: pipeline
    agents: [first, second, third]
"""


def finish(procs: list[subprocess.Popen[str]], timeout: float = 120) -> list[tuple[int, Any, str]]:
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append((proc.returncode, json.loads(out) if out.strip() else None, err))
    return results


def ledger_calls(project: Project) -> dict[str, int]:
    with sqlite3.connect(project.data / "axocoatl.db") as db:
        rows = db.execute("SELECT agent_id, COUNT(*) FROM token_ledger GROUP BY agent_id").fetchall()
    return {str(agent): int(count) for agent, count in rows}


def test_six_cli_runs_at_once_on_a_fresh_data_dir_all_complete_and_lose_no_spend(tmp_path: Path) -> None:
    project = Project(tmp_path / "project", CHAIN)
    procs = [project.start("workflow", "run", "pipeline", "-i", f"{TASK} #{n}", "--json") for n in range(6)]
    results = finish(procs)
    for code, run, err in results:
        assert code == 0, err
        assert run["status"] == "completed"
        assert [s["attempts"] for s in run["steps"]] == [1, 1, 1]
    # Each run answered its own task, and every LLM call of every process is in the ledger.
    tasks = sorted(run["input"] for _, run, _ in results)
    assert tasks == sorted(f"{TASK} #{n}" for n in range(6))
    for _, run, _ in results:
        assert run["input"].split("#")[1] in run["final_output"]
    assert ledger_calls(project) == {"first": 6, "second": 6, "third": 6}
    listed = json.loads(project.cli("runs", "list", "--json").stdout)
    assert len(listed) == 6 and {r["status"] for r in listed} == {"completed"}


def test_a_chat_thread_written_by_two_processes_at_once_keeps_every_message(tmp_path: Path) -> None:
    config = "agents:\n  - id: pal\n    provider: mock\n    options: {latency_ms: 50}\n"
    project = Project(tmp_path / "project", config)
    procs = [project.start("chat", "-a", "pal", "-m", f"message {n}") for n in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with sqlite3.connect(project.data / "axocoatl.db") as db:
        rows = db.execute(
            "SELECT seq, message FROM thread_messages WHERE agent_id = 'pal' AND thread = 'main' ORDER BY seq"
        ).fetchall()
    assert [seq for seq, _ in rows] == list(range(8))  # numbered without gaps or clashes
    users = sorted(json.loads(m)["content"] for _, m in rows if json.loads(m)["role"] == "user")
    assert users == [f"message {n}" for n in range(4)]


def test_a_per_day_budget_holds_across_processes_running_at_once(tmp_path: Path) -> None:
    # Every call asks for a 3000-token reply and the mock fills it: a call spends exactly what it
    # reserved. The budget has room for three such calls, not four.
    long_reply = "word " * 4000
    single = f"""
agents:
  - id: spender
    provider: mock
    sampling: {{max_tokens: 3000}}
    options: {{latency_ms: 300, reply: "{long_reply}"}}
    token_budget: {{per_execution: 100000, per_day: PER_DAY}}
workflows:
  - id: spend
    agents: [spender]
"""
    probe = Project(tmp_path / "probe", single.replace("PER_DAY", "1000000"))
    result = probe.cli("workflow", "run", "spend", "-i", "go", "--json")
    assert result.returncode == 0, result.stderr
    tokens = json.loads(result.stdout)["steps"][0]["tokens"]
    assert tokens["output"] == 3000
    cost = tokens["input"] + 3000
    per_day = cost * 3 + tokens["input"] // 2

    project = Project(tmp_path / "project", single.replace("PER_DAY", str(per_day)))
    procs = [project.start("workflow", "run", "spend", "-i", "go", "--json") for _ in range(6)]
    results = finish(procs)
    completed = [run for code, run, _ in results if code == 0 and run["status"] == "completed"]
    refused = [run for code, run, _ in results if run and run["status"] == "failed"]
    # Without the check inside the transaction, each process would have seen 0 spent and all six
    # would have run (6 x cost > per_day).
    assert len(completed) == 3 and len(refused) == 3, results
    for run in refused:
        assert "per_day would be exceeded" in run["steps"][0]["error"]
    with sqlite3.connect(project.data / "axocoatl.db") as db:
        spent = db.execute("SELECT SUM(input + output) FROM token_ledger").fetchone()[0]
        left = db.execute("SELECT COUNT(*) FROM token_reservations").fetchone()[0]
    assert spent <= per_day
    assert left == 0  # every reservation was released with its ledger row


def test_kill_9_among_concurrent_runs_then_every_run_resumes(tmp_path: Path) -> None:
    project = Project(tmp_path / "project", CHAIN)
    victims = [project.start("workflow", "run", "pipeline", "-i", f"{TASK} #{n}", "--json") for n in range(3)]
    survivor = project.start("workflow", "run", "pipeline", "-i", "survivor", "--json")

    def some_step_done() -> bool:
        if not (project.data / "axocoatl.db").exists():
            return False
        with sqlite3.connect(project.data / "axocoatl.db") as db:
            done = db.execute("SELECT COUNT(*) FROM steps WHERE status = 'completed'").fetchone()[0]
        return bool(done >= 3)

    project.wait_for(victims[0], some_step_done, "three committed steps")
    for proc in victims:
        proc.kill()
        proc.communicate()
    code, run, err = finish([survivor])[0]
    assert code == 0, err
    assert run["status"] == "completed"

    runs = json.loads(project.cli("runs", "list", "--json").stdout)
    interrupted = [r for r in runs if r["status"] == "interrupted"]
    assert interrupted, "no run was interrupted: the kill came too late"
    before = {r["run_id"]: json.loads(project.cli("runs", "show", r["run_id"], "--json").stdout) for r in interrupted}
    for run_id, was in before.items():
        resumed = project.cli("runs", "resume", run_id, "--json")
        assert resumed.returncode == 0, resumed.stderr
        after = json.loads(resumed.stdout)
        assert after["status"] == "completed"
        for old, new in zip(was["steps"], after["steps"], strict=True):
            if old["status"] == "completed":
                assert new["attempts"] == 1 and new["output"] == old["output"]


def test_an_in_process_cli_run_beside_a_daemon_leaves_the_daemons_runs_and_agents_healthy(tmp_path: Path) -> None:
    from tests.server.support import running_daemon, wait_run

    slow = CHAIN.replace("latency_ms: 150", "latency_ms: 400")
    with running_daemon(tmp_path / "project", slow) as daemon, daemon.client() as http:
        started = http.post("/api/workflows/pipeline/execute", json={"input": "in the daemon"})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        # --mock runs in-process even with a daemon running: two processes on one database.
        project = Project(tmp_path / "project", slow)
        project.data = daemon.data_dir
        result = project.cli("--mock", "workflow", "run", "pipeline", "-i", "beside it", "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["status"] == "completed"
        run = wait_run(http, run_id)
        assert run["status"] == "completed", run
        assert {a["status"] for a in http.get("/api/agents").json()} == {"idle"}
        again = http.post("/api/workflows/pipeline/execute?wait=true", json={"input": "after"}, timeout=60)
        assert again.json()["status"] == "completed", again.text


def test_broken_data_dirs_and_database_files_are_clear_errors(tmp_path: Path) -> None:
    project = Project(tmp_path / "project", CHAIN)
    project.data.mkdir(parents=True)
    db = project.data / "axocoatl.db"
    cases = {
        b"": "is empty (0 bytes)",
        b"hello, I am a text file\n" * 4: "is not an SQLite database",
    }
    for content, message in cases.items():
        db.write_bytes(content)
        result = project.cli("workflow", "run", "pipeline", "-i", "x")
        assert result.returncode == 1, result.stderr
        assert message in result.stderr and str(db) in result.stderr
        assert "Traceback" not in result.stderr
        assert db.read_bytes() == content  # never replaced by a fresh database
    db.unlink()
    with sqlite3.connect(db) as other:
        other.execute("CREATE TABLE notes (body TEXT)")
    result = project.cli("workflow", "run", "pipeline", "-i", "x")
    assert result.returncode == 1 and "database of another program" in result.stderr, result.stderr


def test_a_large_input_is_stored_once_and_read_back_whole(tmp_path: Path) -> None:
    project = Project(tmp_path / "project", CHAIN.replace("latency_ms: 150", "latency_ms: 0"))
    task = "".join(f"line {n}: a long task that the whole chain receives\n" for n in range(16_000))  # ~850 KB
    proc = project.cli("workflow", "run", "pipeline", "-i", "-", "--json", stdin=task, timeout=120)
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)
    # Every step's input is whole when read back.
    assert run["input"] == task
    assert run["steps"][0]["input"] == task
    for step in run["steps"][1:]:
        assert step["input"].endswith("Original task: " + task)
    # ...but the database holds the task about once, not once per step, memory and log entry.
    db = project.data / "axocoatl.db"
    size = db.stat().st_size + sum(p.stat().st_size for p in db.parent.glob("axocoatl.db-*"))
    assert size < 1.5 * len(task.encode()), size
