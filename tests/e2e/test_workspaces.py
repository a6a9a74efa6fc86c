"""Workspaces through the CLI: --workspace, the config's workspace:, the default per run, and `runs diff`."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from tests.e2e.support import Project

pytestmark = pytest.mark.slow

CALLS = [
    {"name": "edit_file", "arguments": {"path": "app.py", "old": "return 1", "new": "return 2"}},
    {"name": "write_file", "arguments": {"path": "NOTES.md", "content": "changed app\n"}},
    {"name": "bash", "arguments": {"command": "pwd"}},
]


def config(workspace: str = "") -> str:
    return textwrap.dedent(
        f"""\
        agents:
          - id: coder
            provider: mock
            tools: [edit_file, write_file, bash]
            options: {{tool_calls: {json.dumps(CALLS)}, reply: "ran in {{tool_result}}"}}
        workflows:
          - id: pipeline
            agents: [coder]
            {workspace}
        """
    )


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True)
    return done.stdout


def repo(root: Path) -> str:
    root.mkdir(parents=True)
    git(root, "init", "-q")
    (root / "app.py").write_text("def main():\n    return 1\n")
    git(root, "add", "app.py")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "start")
    return git(root, "rev-parse", "HEAD").strip()


def test_a_run_in_a_git_workspace_shows_what_it_changed(tmp_path: Path) -> None:
    project = Project(tmp_path / "project", config())
    work = tmp_path / "checkout"
    baseline = repo(work)
    result = project.cli("workflow", "run", "pipeline", "-i", "fix it", "--workspace", str(work), "--json")
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["final_output"] == f'ran in {{"exit_code": 0, "output": "{work.resolve()}\\n"}}'
    assert (work / "app.py").read_text() == "def main():\n    return 2\n"

    shown = project.cli("runs", "diff", run["run_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    [place] = json.loads(shown.stdout)
    assert place["path"] == str(work.resolve()) and place["baseline"] == baseline and place["agents"] == ["coder"]
    assert "-    return 1\n+    return 2" in place["diff"]
    assert "+++ b/NOTES.md" in place["diff"] and "+changed app" in place["diff"]
    text = project.cli("runs", "diff", run["run_id"])
    assert text.returncode == 0 and f"# {work.resolve()} (coder; since {baseline[:12]})" in text.stdout
    missing = project.cli("runs", "diff", "run-nope")
    assert missing.returncode != 0 and "no run 'run-nope'" in missing.stderr


def test_the_default_is_a_fresh_directory_per_run_and_a_configured_one_is_relative_to_the_config(
    tmp_path: Path,
) -> None:
    project = Project(tmp_path / "project", config())
    (project.root / "app.py").write_text("return 1")  # not the workspace: untouched
    first = json.loads(project.cli("workflow", "run", "pipeline", "-i", "a", "--json").stdout)
    second = json.loads(project.cli("workflow", "run", "pipeline", "-i", "a", "--json").stdout)
    for run in (first, second):
        assert run["status"] == "completed"  # the edit failed (no app.py there): a tool error, not a failure
        folder = project.data / "workspaces" / run["run_id"]
        assert (folder / "NOTES.md").read_text() == "changed app\n"
    assert (project.root / "app.py").read_text() == "return 1"
    note = json.loads(project.cli("runs", "diff", first["run_id"], "--json").stdout)[0]["note"]
    assert note == "not a git repository when the run started: no baseline to diff against"

    configured = Project(tmp_path / "configured", config("workspace: src"))
    (configured.root / "src").mkdir()
    (configured.root / "src" / "app.py").write_text("return 1")
    run = json.loads(configured.cli("workflow", "run", "pipeline", "-i", "a", "--json").stdout)
    assert run["status"] == "completed"
    assert (configured.root / "src" / "app.py").read_text() == "return 2"


def test_a_missing_workspace_is_a_clear_error(tmp_path: Path) -> None:
    project = Project(tmp_path / "project", config())
    result = project.cli("workflow", "run", "pipeline", "-i", "a", "--workspace", str(tmp_path / "nope"))
    assert result.returncode != 0
    assert f"--workspace: workspace '{tmp_path / 'nope'}' is not a directory" in result.stderr
    chat = project.cli("chat", "-m", "hi", "--workspace", str(tmp_path / "nope"))  # refused before any turn
    assert chat.returncode == 2 and chat.stdout == ""
    assert f"--workspace: workspace '{tmp_path / 'nope'}' is not a directory" in chat.stderr


def test_chat_works_in_the_given_workspace(tmp_path: Path) -> None:
    project = Project(tmp_path / "project", config().replace("coder", "assistant"))
    work = tmp_path / "desk"
    work.mkdir()
    (work / "app.py").write_text("return 1")
    result = project.cli("chat", "-m", "fix it", "--workspace", str(work))
    assert result.returncode == 0, result.stderr
    assert (work / "app.py").read_text() == "return 2"
    assert (work / "NOTES.md").exists()
