"""Hooks as a user configures them: `validate` takes them as live, and `workflow run` applies them in order."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from tests.e2e.support import Project

pytestmark = pytest.mark.slow

CALLS = [
    {"name": "bash", "arguments": {"command": "cat ~/.ssh/id_rsa"}},
    {"name": "bash", "arguments": {"command": "echo ran >> log.txt"}},
]


def test_workflow_run_applies_the_configured_hooks_in_order(tmp_path: Path) -> None:
    project = Project(
        tmp_path / "project",
        textwrap.dedent(
            f"""\
            agents:
              - id: worker
                provider: mock
                tools: [bash]
                options: {{tool_calls: {json.dumps(CALLS)}, reply: "saw {{tool_result}}"}}
            workflows:
              - id: job
                agents: [worker]
                workspace: work
            hooks:
              - {{name: audit, type: log, path: audit.jsonl}}
              - {{name: no-keys, type: deny_list, tools: [bash], patterns: ["id_rsa"], reason: "keys stay home"}}
            """
        ),
    )
    (project.root / "work").mkdir()
    validated = project.cli("validate")
    assert validated.returncode == 0, validated.stderr
    assert "hooks" not in validated.stdout + validated.stderr  # no "has no effect" warning any more
    result = project.cli("workflow", "run", "job", "-i", "go", "--json")
    assert result.returncode == 0, result.stderr
    assert (project.root / "work" / "log.txt").read_text() == "ran\n"  # the second call ran, once
    lines = [json.loads(line) for line in (project.root / "audit.jsonl").read_text().splitlines()]
    # audit comes first, so it logs the denied call too (its pre phase); a denied call has no post phase.
    assert [(e["phase"], e["arguments"]["command"]) for e in lines] == [
        ("pre", "cat ~/.ssh/id_rsa"),
        ("pre", "echo ran >> log.txt"),
        ("post", "echo ran >> log.txt"),
    ]
    run_id = json.loads(result.stdout)["run_id"]
    shown = project.cli("runs", "show", run_id)
    assert '✗ [1.0.0] bash {"command": "cat ~/.ssh/id_rsa"} — error' in shown.stdout
    assert '✓ [1.0.1] bash {"command": "echo ran >> log.txt"} — done' in shown.stdout
