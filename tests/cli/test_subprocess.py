"""The CLI as a new user runs it: `python -m axocoatl` in a subprocess."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_help_lists_the_core_commands(tmp_path: Path, axocoatl_cli: Cli) -> None:
    run_cli = axocoatl_cli
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("validate", "init", "workflow", "runs", "agents", "config"):
        assert command in result.stdout
    version = run_cli("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("axocoatl ")


def test_init_validate_run_show_as_a_new_user(tmp_path: Path, axocoatl_cli: Cli) -> None:
    run_cli = axocoatl_cli
    init = run_cli("init", "demo", "--provider", "mock", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    project = tmp_path / "demo"
    validate = run_cli("validate", cwd=project)
    assert validate.returncode == 0, validate.stderr
    run = run_cli("workflow", "run", "research", "-i", "What is a write-ahead log?", "--json", cwd=project)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["status"] == "completed"
    assert [(s["agent_id"], s["attempts"]) for s in data["steps"]] == [("researcher", 1), ("summarizer", 1)]
    assert (project / ".axocoatl" / "axocoatl.db").exists()
    show = run_cli("runs", "show", data["run_id"], "--json", cwd=project)
    assert show.returncode == 0
    assert json.loads(show.stdout) == data
    human = run_cli("runs", "show", data["run_id"], cwd=project)
    assert human.returncode == 0 and "summarizer" in human.stdout and "completed" in human.stdout


def test_failed_run_exit_code_and_one_line_errors(tmp_path: Path, axocoatl_cli: Cli) -> None:
    run_cli = axocoatl_cli
    (tmp_path / "axocoatl.yaml").write_text(
        "agents:\n  - id: a\n    provider: mock\n    options: {fail: true}\n"
        "  - id: b\n    provider: mock\n    depends_on: [a]\n"
        "workflows:\n  - id: wf\n    agents: [a, b]\n"
    )
    run = run_cli("workflow", "run", "wf", "-i", "x", "--json", cwd=tmp_path)
    assert run.returncode == 1
    data = json.loads(run.stdout)
    assert data["status"] == "failed"
    assert [s["status"] for s in data["steps"]] == ["failed", "skipped"]

    long_name = "agent_with_a_rather_long_identifier_" * 2
    (tmp_path / "broken.yaml").write_text(
        f"agents:\n  - id: {long_name}\n    provider: mock\n    depends_on: [missing_dependency_{long_name}]\n"
    )
    broken = run_cli("--config", "broken.yaml", "validate", cwd=tmp_path)
    assert broken.returncode == 2
    # Piped stderr keeps each `file:line: field: message` on one line, whatever its length.
    line = next(x for x in broken.stderr.splitlines() if x.startswith("broken.yaml:4:"))
    assert f"missing_dependency_{long_name}" in line


def test_a_database_from_a_newer_version_is_refused_without_hanging(tmp_path: Path, axocoatl_cli: Cli) -> None:
    run_cli = axocoatl_cli
    (tmp_path / "axocoatl.yaml").write_text("agents:\n  - id: a\n    provider: mock\n")
    assert run_cli("chat", "-m", "hi", cwd=tmp_path).returncode == 0  # makes the database
    with sqlite3.connect(tmp_path / ".axocoatl" / "axocoatl.db") as db:
        db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)")
    for args in (["runs", "list"], ["agents", "list"], ["validate"]):
        result = run_cli(*args, cwd=tmp_path, timeout=60)  # a leaked database thread used to hang here
        if args[0] == "runs":
            assert result.returncode == 1
            assert "written by a newer axocoatl (schema version 9999)" in result.stderr
        else:
            assert result.returncode == 0  # commands that never open the database are unaffected
