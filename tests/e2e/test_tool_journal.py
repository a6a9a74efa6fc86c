"""kill -9 in the middle of tool calls with side effects, then `runs resume`: each effect happens once.

The `worker` agent's scripted calls write a file, append a line, run a slow command that appends a
line after a sleep (the kill lands during it) and append a last line. The resumed step replays the
recorded calls, tells the model the interrupted one has an unknown outcome (it is not run again),
and runs the one that never started.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
import time
from pathlib import Path

import pytest
from tests.e2e.support import Project

pytestmark = pytest.mark.slow

CALLS = [
    {"name": "write_file", "arguments": {"path": "report.txt", "content": "v1"}},
    {"name": "bash", "arguments": {"command": "echo one >> log.txt"}},
    {"name": "bash", "arguments": {"command": "echo started >> slow.txt; sleep 30; echo two >> log.txt"}},
    {"name": "bash", "arguments": {"command": "echo three >> log.txt"}},
]


def scenario() -> str:
    return textwrap.dedent(
        f"""\
        agents:
          - id: worker
            provider: mock
            tools: [write_file, bash]
            options: {{latency_ms: 100, tool_calls: {json.dumps(CALLS)}, reply: "worker saw {{tool_result}}"}}
          - id: after
            provider: mock
            depends_on: [worker]
            options: {{reply: "after: {{input_head}}"}}
        workflows:
          - id: pipeline
            agents: [worker, after]
            workspace: work
        """
    )


def test_a_killed_step_resumes_without_repeating_its_side_effects(tmp_path: Path) -> None:
    project = Project(tmp_path / "project", scenario())
    work = project.root / "work"
    work.mkdir()
    proc = project.start("workflow", "run", "pipeline", "-i", "do it", "--json")
    try:
        project.wait_for(proc, lambda: (work / "slow.txt").exists(), "the slow command to start")
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -9
    report = (work / "report.txt").stat()
    assert (work / "log.txt").read_text() == "one\n"
    run_id = project.peek("runs", "list", "--json")[0]["run_id"]
    assert project.peek("runs", "show", run_id, "--json")["status"] == "interrupted"
    time.sleep(0.2)  # the slow command died with its runtime: nothing appends "two" later
    assert (work / "log.txt").read_text() == "one\n"

    resumed = project.cli("runs", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    run = json.loads(resumed.stdout)
    assert run["status"] == "completed"
    assert (work / "log.txt").read_text() == "one\nthree\n"  # each once; the interrupted one not re-run
    assert (work / "slow.txt").read_text() == "started\n"
    again = (work / "report.txt").stat()
    assert (again.st_ino, again.st_mtime_ns) == (report.st_ino, report.st_mtime_ns)  # not written again
    worker = next(s for s in run["steps"] if s["agent_id"] == "worker")
    assert worker["attempts"] == 2
    assert worker["output"].startswith('worker saw {"exit_code": 0')

    db = sqlite3.connect(project.data / "axocoatl.db")
    rows = db.execute(
        "SELECT idx, name, status, result, open FROM tool_journal WHERE run_id = ? AND agent_id = 'worker' "
        "AND idx >= 0 ORDER BY idx",
        (run_id,),
    ).fetchall()
    db.close()
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        (0, "write_file", "done", 0),
        (1, "bash", "done", 0),
        (2, "bash", "interrupted", 0),
        (3, "bash", "done", 0),
    ]
    assert "interrupted: unknown outcome" in json.loads(rows[2][3])["error"]


def test_an_uninterrupted_run_journals_every_call_once(tmp_path: Path) -> None:
    project = Project(tmp_path / "project", scenario().replace("sleep 30; ", ""))
    (project.root / "work").mkdir()
    result = project.cli("workflow", "run", "pipeline", "-i", "do it", "--json")
    assert result.returncode == 0, result.stderr
    assert (project.root / "work" / "log.txt").read_text() == "one\ntwo\nthree\n"
    run = json.loads(result.stdout)
    assert [s["attempts"] for s in run["steps"]] == [1, 1]


def test_a_core_memory_edit_of_a_killed_step_is_applied_once(tmp_path: Path) -> None:
    calls = [
        {"name": "core_memory_append", "arguments": {"block": "project", "text": "Uses WAL."}},
        {"name": "bash", "arguments": {"command": "echo started > slow.txt; sleep 30"}},
    ]
    config = textwrap.dedent(
        f"""\
        agents:
          - id: keeper
            provider: mock
            tools: [bash]
            memory: {{core: {{blocks: [{{label: project}}]}}}}
            options: {{tool_calls: {json.dumps(calls)}, reply: "kept"}}
        workflows:
          - id: pipeline
            agents: [keeper]
            workspace: work
        """
    )
    project = Project(tmp_path / "project", config)
    work = project.root / "work"
    work.mkdir()
    proc = project.start("workflow", "run", "pipeline", "-i", "remember", "--json")
    try:
        project.wait_for(proc, lambda: (work / "slow.txt").exists(), "the slow command to start")
    finally:
        proc.kill()
        proc.communicate()

    def block() -> str:
        shown = project.cli("memory", "blocks", "keeper", "--json")
        assert shown.returncode == 0, shown.stderr
        data = json.loads(shown.stdout)
        return str(next(b for b in data if b["label"] == "project")["value"])

    assert block() == ""  # the edit commits with its turn, which never committed
    run_id = project.peek("runs", "list", "--json")[0]["run_id"]
    resumed = project.cli("runs", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "completed"
    assert block() == "Uses WAL."  # applied exactly once
