"""kill -9 after an ask_human question was answered, while the step's turn goes on: `runs resume`
replays the answer from the tool journal (it is not asked again, the model is not called again)."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import pytest
from tests.e2e.support import Project

pytestmark = pytest.mark.slow

CALLS = [
    {"name": "ask_human", "arguments": {"question": "Which colour?"}},
    {"name": "bash", "arguments": {"command": "echo started >> slow.txt; sleep 30; echo painted >> log.txt"}},
]
CONFIG = textwrap.dedent(
    f"""\
    agents:
      - id: asker
        provider: mock
        tools: [ask_human, bash]
        options: {{tool_calls: {json.dumps(CALLS)}, reply: "done: {{tool_result}}"}}
    workflows:
      - id: paint
        agents: [asker]
        workspace: work
    """
)


def test_a_kill_after_the_answer_replays_it_on_resume(tmp_path: Path) -> None:
    project = Project(tmp_path / "project", CONFIG)
    work = project.root / "work"
    work.mkdir()
    asked = project.cli("workflow", "run", "paint", "-i", "the shed", "--json")
    assert asked.returncode == 0, asked.stderr
    run_id = json.loads(asked.stdout)["run_id"]
    assert json.loads(asked.stdout)["status"] == "waiting"

    proc = project.start("runs", "answer", run_id, "-m", "blue", "--json")
    try:
        project.wait_for(proc, lambda: (work / "slow.txt").exists(), "the command after the answer to start")
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -9
    shown = project.peek("runs", "show", run_id, "--json")
    assert shown["status"] == "interrupted" and shown["steps"][0]["answer"] == "blue"

    resumed = project.cli("runs", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    run = json.loads(resumed.stdout)
    assert run["status"] == "completed", run
    assert run["steps"][0]["output"].startswith("done: ")  # the model saw the bash call's result
    db = sqlite3.connect(project.data / "axocoatl.db")
    try:
        rows = db.execute(
            "SELECT name, status, result FROM tool_journal WHERE run_id = ? AND idx >= 0 "
            "ORDER BY activation, round, idx",
            (run_id,),
        ).fetchall()
        llm_calls = db.execute("SELECT COUNT(*) FROM token_ledger WHERE run_id = ?", (run_id,)).fetchone()[0]
    finally:
        db.close()
    assert [r[:2] for r in rows] == [("ask_human", "done"), ("bash", "interrupted")]
    assert rows[0][2] == "blue"
    assert llm_calls == 2  # the round that asked and the final reply; neither the ask nor the answer re-called
