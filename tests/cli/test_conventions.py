"""The CLI's conventions as a user meets them: options anywhere, the data dir beside the config, read-only
commands that create nothing, dry runs that leave no trace, run id prefixes, exit codes, version, config,
completion and chat's defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli.terminal import Terminal

pytestmark = pytest.mark.slow

Cli = Callable[..., subprocess.CompletedProcess[str]]

PIPELINE = """
agents:
  - id: researcher
    provider: mock
  - id: writer
    provider: mock
    depends_on: [researcher]
workflows:
  - id: research
    agents: [researcher, writer]
providers:
  openai:
    api_key: sk-very-secret-value
"""
ONE_AGENT = """
agents:
  - id: helper
    provider: mock
    options:
      reply: "echo: {input}"
"""


def _project(root: Path, text: str = PIPELINE) -> Path:
    project = root / "proj"
    project.mkdir(parents=True)
    (project / "axocoatl.yaml").write_text(text, encoding="utf-8")
    return project


def _run(cli: Cli, cwd: Path, *args: str) -> dict[str, object]:
    result = cli(*args, "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_options_anywhere_and_the_data_dir_beside_the_config(tmp_path: Path, axocoatl_cli: Cli) -> None:
    project = _project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = str(project / "axocoatl.yaml")
    listed = axocoatl_cli("workflow", "list", "-c", config, cwd=elsewhere)  # -c after the command
    assert listed.returncode == 0, listed.stderr
    assert "research" in listed.stdout
    # Read-only commands create nothing: no data dir, no database.
    read_only = (
        ("runs", "list"),
        ("tokens", "report"),
        ("agents", "list"),
        ("doctor",),
        ("schedules", "list"),
        ("webhooks", "deliveries"),
        ("approvals", "list"),
    )
    for args in read_only:
        done = axocoatl_cli(*args, "--config", config, cwd=elsewhere)
        assert done.returncode == 0 or args == ("doctor",), (args, done.stderr)  # doctor fails on a busy port
    assert not (project / ".axocoatl").exists() and not (elsewhere / ".axocoatl").exists()
    assert axocoatl_cli("runs", "show", "run-x", "-c", config, cwd=elsewhere).returncode == 3
    record = _run(axocoatl_cli, elsewhere, "workflow", "run", "research", "-i", "hello", "-c", config)
    assert (project / ".axocoatl" / "axocoatl.db").is_file() and not (elsewhere / ".axocoatl").exists()
    runs = _run(axocoatl_cli, project, "runs", "list")  # the same runs from the project directory
    assert [r["run_id"] for r in runs] == [record["run_id"]]  # type: ignore[index]


def test_mock_runs_in_a_throwaway_data_dir_unless_one_is_given(tmp_path: Path, axocoatl_cli: Cli) -> None:
    project = _project(tmp_path)
    dry = axocoatl_cli("workflow", "run", "research", "-i", "x", "--mock", cwd=project)
    assert dry.returncode == 0, dry.stderr
    assert "throwaway data dir" in dry.stderr
    assert not (project / ".axocoatl").exists()
    throwaway = Path(dry.stderr.split("throwaway data dir (")[1].split(",")[0])
    assert throwaway.name.startswith("axocoatl-mock-") and not throwaway.exists()  # deleted at exit
    kept = tmp_path / "kept"
    _run(axocoatl_cli, project, "--mock", "--data-dir", str(kept), "workflow", "run", "research", "-i", "x")
    assert (kept / "axocoatl.db").is_file() and not (project / ".axocoatl").exists()


def test_run_ids_by_unique_prefix_and_exit_codes(tmp_path: Path, axocoatl_cli: Cli) -> None:
    project = _project(tmp_path)
    first = str(_run(axocoatl_cli, project, "workflow", "run", "research", "-i", "one")["run_id"])
    second = str(_run(axocoatl_cli, project, "workflow", "run", "research", "-i", "two")["run_id"])
    shared = next(i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b)
    unique = second[: shared + 1]
    shown = _run(axocoatl_cli, project, "runs", "show", unique)
    assert shown["run_id"] == second
    ambiguous = axocoatl_cli("runs", "show", "run-", cwd=project)
    assert ambiguous.returncode == 2
    assert first in ambiguous.stderr and second in ambiguous.stderr and "more characters" in ambiguous.stderr
    assert axocoatl_cli("runs", "show", "nope", cwd=project).returncode == 3
    assert axocoatl_cli("runs", "resume", "nope", cwd=project).returncode == 3
    unknown_workflow = axocoatl_cli("workflow", "run", "nope", "-i", "x", cwd=project)
    assert unknown_workflow.returncode == 3 and "unknown workflow 'nope'" in unknown_workflow.stderr
    assert axocoatl_cli("chat", "-a", "nope", "-m", "hi", cwd=project).returncode == 3
    assert axocoatl_cli("memory", "blocks", "nope", cwd=project).returncode == 3
    assert axocoatl_cli("workflow", "run", cwd=project).returncode == 2  # usage: missing argument


def test_version_log_level_and_config_show_and_path(tmp_path: Path, axocoatl_cli: Cli) -> None:
    project = _project(tmp_path)
    assert axocoatl_cli("-V", cwd=project).stdout.startswith("axocoatl ")
    version = _run(axocoatl_cli, project, "version")
    assert version["version"] and version["python"]
    bad = axocoatl_cli("agents", "list", "--log-level", "loud", cwd=project)
    assert bad.returncode == 2 and "log level" in bad.stderr
    assert axocoatl_cli("agents", "list", "-q", cwd=project).returncode == 0
    shown = axocoatl_cli("config", "show", cwd=project)
    assert shown.returncode == 0 and "sk-very-secret-value" not in shown.stdout and "**********" in shown.stdout
    data = _run(axocoatl_cli, project, "config", "show")
    assert [a["id"] for a in data["agents"]] == ["researcher", "writer"]  # type: ignore[index]
    assert data["providers"]["openai"]["api_key"] == "**********"  # type: ignore[index]
    path = _run(axocoatl_cli, tmp_path, "config", "path", "-c", str(project / "axocoatl.yaml"))
    assert path["config"] == str(project / "axocoatl.yaml") and path["exists"] is True
    assert path["data_dir"] == str(project / ".axocoatl")


def test_bash_completion_completes_commands_and_ids(tmp_path: Path, axocoatl_cli: Cli) -> None:
    project = _project(tmp_path)
    run_id = str(_run(axocoatl_cli, project, "workflow", "run", "research", "-i", "x")["run_id"])
    script = axocoatl_cli("completion", "bash", cwd=project)
    assert script.returncode == 0 and "_AXOCOATL_COMPLETE" in script.stdout
    (tmp_path / "completion.bash").write_text(script.stdout)
    # An `axocoatl` on PATH that is this checkout's CLI, as an installed one would be.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "axocoatl").write_text(f'#!/bin/sh\nexec {sys.executable} -m axocoatl "$@"\n')
    (bin_dir / "axocoatl").chmod(0o755)

    def complete(line: str) -> list[str]:
        words = line.split(" ")
        program = (
            f"source {tmp_path / 'completion.bash'}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
            f"COMP_CWORD={len(words) - 1}; _axocoatl_completion axocoatl; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        )
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        done = subprocess.run(["bash", "-c", program], cwd=project, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return [w for w in done.stdout.split("\n") if w]

    assert "workflow" in complete("axocoatl wor")
    assert complete("axocoatl workflow run ") == ["research"]
    assert complete("axocoatl runs show run-") == [run_id]
    assert set(complete("axocoatl agents status ")) == {"researcher", "writer"}
    assert axocoatl_cli("completion", "tcsh", cwd=project).returncode == 2


def test_chat_picks_the_only_agent_and_reads_stdin(tmp_path: Path, axocoatl_cli: Cli) -> None:
    project = _project(tmp_path, ONE_AGENT)
    reply = axocoatl_cli("chat", "-m", "-", "--json", cwd=project, input="hello from a pipe")
    assert reply.returncode == 0, reply.stderr
    data = json.loads(reply.stdout)
    assert data["agent_id"] == "helper" and data["output"] == "echo: hello from a pipe"
    plain = axocoatl_cli("chat", "-m", "hi", cwd=project)
    assert plain.returncode == 0 and "echo: hi" in plain.stdout
    several = _project(tmp_path / "several", PIPELINE)
    many = axocoatl_cli("chat", "-m", "hi", cwd=several)
    assert many.returncode == 2 and "researcher, writer" in many.stderr and "-a AGENT" in many.stderr


def test_ctrl_c_while_a_reply_streams_stops_the_reply_not_the_chat(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        'agents:\n  - id: slow\n    provider: mock\n    options:\n      latency_ms: 60000\n      reply: "late"\n',
    )
    term = Terminal(project, "chat", env={"NO_COLOR": "1", "TERM": "dumb"})
    try:
        term.read_until(b"you>")
        term.write(b"are you there?\r")
        term.read_until(b"slow>")
        time.sleep(0.5)  # the turn is waiting on the model
        term.write(b"\x03")
        term.read_until(b"(reply stopped)")
        term.read_until(b"you>")
        term.write(b"/exit\r")
        term.read_until(b"bye")
    finally:
        code = term.close()
    assert code == 0, term.text


def test_piped_output_is_never_wrapped_even_with_columns_exported(tmp_path: Path, axocoatl_cli: Cli) -> None:
    project = _project(tmp_path)
    result = axocoatl_cli(
        "workflow", "run", "research", "-i", "write-ahead logging", cwd=project, env={"COLUMNS": "40"}
    )
    assert result.returncode == 0, result.stderr
    # The summary stays one line: COLUMNS describes a terminal, and a pipe is not one.
    summary = [line for line in result.stdout.splitlines() if line.startswith("run run-") and " steps" in line]
    assert len(summary) == 1 and summary[0].endswith(" out)"), result.stdout
