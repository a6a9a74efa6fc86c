"""The CLI contract, in-process through Typer's runner: validate, init, workflow, agents, runs, config schema."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from tests.contracts import check_run_contract

from axocoatl.cli.main import app

from .support import Cli

PIPELINE = """
agents:
  - id: researcher
    provider: mock
    options: {reply: "notes on {input_head}"}
  - id: critic
    provider: mock
    depends_on: [researcher]
    options: {fail_when: "please fail"}
  - id: writer
    provider: mock
    depends_on: [researcher, critic]
workflows:
  - id: research
    agents: [researcher, critic, writer]
"""


# ---------------------------------------------------------------------------------------- validate


def test_validate_accepts_a_good_config(cli: Cli) -> None:
    cli.write(PIPELINE)
    result = cli("validate")
    assert result.exit_code == 0, result.output
    assert "is valid" in result.stdout
    assert "3 agents, 1 workflows" in result.stdout


def test_validate_lists_every_error_with_file_line_field_and_hint(cli: Cli) -> None:
    path = cli.write(
        """\
        agents:
          - id: a
            provider: mock
            depends_on: [ghost]
          - id: b
            provider: mock
            depends_on: [a]
          - id: c
            provider: mokc
        workflows:
          - id: wf
            agents: [a, nobody]
            entry_point: b
        """
    )
    result = cli("validate")
    assert result.exit_code == 2
    err = result.stderr
    assert result.stdout == ""
    name = re.escape(str(path))
    # Each problem: where (file:line), which field, what, and a hint.
    assert re.search(rf"{name}:4: agents\[a\]\.depends_on\[0\]: .*'ghost'", err), err
    assert re.search(rf"{name}:9: agents\[c\]\.provider: .*'mokc'", err), err
    assert "did you mean 'mock'" in err
    assert re.search(rf"{name}:12: workflows\[wf\]\.agents\[1\]: .*'nobody'", err), err
    count = int(re.search(r"has (\d+) errors", err).group(1))  # type: ignore[union-attr]
    assert count >= 3
    assert err.count(f"{path}:") == count
    assert err.count("hint:") >= 3


def test_validate_lists_every_schema_error(cli: Cli) -> None:
    path = cli.write(
        """\
        agents:
          - id: a
            provider: mock
            dependson: [x]
          - id: b
            provider: mock
            timeout_secs: -1
            token_budget: {per_call: 10}
        workflows:
          - id: wf
            agents: [a, b]
            timeout: 5
        """
    )
    result = cli("validate")
    assert result.exit_code == 2
    err = result.stderr
    name = re.escape(str(path))
    assert re.search(rf"{name}:4: agents\[a\]\.dependson: unknown key", err), err
    assert "did you mean 'depends_on'" in err
    assert re.search(rf"{name}:7: agents\[b\]\.timeout_secs: must be greater than 0", err), err
    assert re.search(rf"{name}:8: agents\[b\]\.token_budget\.per_execution: ", err), err
    assert re.search(rf"{name}:12: workflows\[wf\]\.timeout: unknown key", err), err
    assert "has 4 errors" in err


def test_validate_reports_a_cycle(cli: Cli) -> None:
    cli.write(
        """\
        agents:
          - id: a
            provider: mock
            depends_on: [b]
          - id: b
            provider: mock
            depends_on: [a]
          - id: entry
            provider: mock
        """
    )
    result = cli("validate")
    assert result.exit_code == 2
    assert "cycle" in result.stderr.lower()
    assert "a" in result.stderr and "b" in result.stderr


def test_validate_yaml_syntax_error_names_the_line(cli: Cli) -> None:
    path = cli.write("agents:\n  - id: a\n    provider: [mock\n")
    result = cli("validate")
    assert result.exit_code == 2
    assert f"{path}:" in result.stderr


def test_validate_missing_file_says_how_to_start(cli: Cli) -> None:
    result = cli("validate")
    assert result.exit_code == 2
    assert "config file not found" in result.stderr
    assert "axocoatl init" in result.stderr


def test_validate_takes_a_path_argument(cli: Cli, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(textwrap.dedent(PIPELINE))
    result = cli("validate", str(other), config=False)
    assert result.exit_code == 0, result.output
    assert str(other) in result.stdout


def test_default_config_is_axocoatl_yaml_in_the_working_directory(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.write(PIPELINE)
    monkeypatch.chdir(tmp_path)
    result = cli.runner.invoke(app, ["workflow", "run", "research", "-i", "here", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / ".axocoatl" / "axocoatl.db").exists()


# ---------------------------------------------------------------------------------------- init


def test_init_creates_a_project_that_validates_and_runs_with_mock(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("init", "my-agents", "--provider", "mock", config=False)
    assert result.exit_code == 0, result.output
    project = tmp_path / "my-agents"
    assert (project / "axocoatl.yaml").is_file()
    assert "axocoatl doctor" in result.stdout
    monkeypatch.chdir(project)
    assert cli("validate", config=False).exit_code == 0
    result = cli("workflow", "run", "research", "-i", "What is a write-ahead log?", "--json", config=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    check_run_contract(data)
    assert data["status"] == "completed"
    assert [s["agent_id"] for s in data["steps"]] == ["researcher", "summarizer"]
    assert data["final_output"] == data["steps"][-1]["output"]


def test_init_default_provider_is_local_and_validates(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli("init", "local-project", config=False).exit_code == 0
    config = yaml.safe_load((tmp_path / "local-project" / "axocoatl.yaml").read_text())
    assert {a["provider"] for a in config["agents"]} == {"local"}
    result = cli("--config", str(tmp_path / "local-project" / "axocoatl.yaml"), "validate", config=False)
    assert result.exit_code == 0, result.output


def test_init_refuses_a_non_empty_directory_and_unknown_provider(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("mine")
    result = cli("init", "taken", config=False)
    assert result.exit_code == 2
    assert "already exists and is not empty" in result.stderr
    assert (tmp_path / "taken" / "file.txt").read_text() == "mine"
    result = cli("init", "fresh", "--provider", "nope", config=False)
    assert result.exit_code == 2
    assert "unknown provider 'nope'" in result.stderr and "mock" in result.stderr


def test_init_json_lists_the_files_and_the_first_command(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("init", "crew", "--provider", "mock", "--template", "team", "--json", config=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["directory"], data["template"], data["provider"]) == (str(tmp_path / "crew"), "team", "mock")
    assert {Path(f).name for f in data["files"]} == {
        "axocoatl.yaml",
        ".env.example",
        "README.md",
        ".gitignore",
        "methods.yaml",
    }
    assert all(Path(f).is_file() for f in data["files"])
    assert data["next"] == ["axocoatl doctor", 'axocoatl workflow run team -i "How do tides work?"']


# ---------------------------------------------------------------------------------------- workflow and agents


def test_workflow_list_and_agents_list_json(cli: Cli) -> None:
    cli.write(PIPELINE)
    workflows = cli.json("workflow", "list", "--json")
    assert workflows == [
        {
            "id": "research",
            "name": "research",
            "agents": ["researcher", "critic", "writer"],
            "entry_point": None,
            "timeout_secs": 1800.0,
            "description": None,
        }
    ]
    agents = cli.json("agents", "list", "--json")
    assert [a["id"] for a in agents] == ["researcher", "critic", "writer"]
    writer = agents[2]
    assert writer["depends_on"] == ["researcher", "critic"]
    assert writer["provider"] == "mock"
    assert {"id", "name", "provider", "model", "role", "depends_on", "tools", "token_budget"} <= set(writer)


def test_workflow_run_json_contract_and_runs_show_agree(cli: Cli) -> None:
    cli.write(PIPELINE)
    data = cli.json("workflow", "run", "research", "-i", "topic X", "--json")
    check_run_contract(data)
    assert data["status"] == "completed" and data["error"] is None
    assert data["workflow_id"] == "research" and data["input"] == "topic X"
    assert [(s["agent_id"], s["status"], s["attempts"]) for s in data["steps"]] == [
        ("researcher", "completed", 1),
        ("critic", "completed", 1),
        ("writer", "completed", 1),
    ]
    assert data["steps"][0]["output"] == "notes on topic X"
    assert data["final_output"] == data["steps"][2]["output"]
    shown = cli.json("runs", "show", data["run_id"], "--json")
    assert shown == data
    listed = cli.json("runs", "list", "--json")
    assert [r["run_id"] for r in listed] == [data["run_id"]]
    assert listed[0]["status"] == "completed"
    assert (listed[0]["steps_completed"], listed[0]["steps_total"]) == (3, 3)


def test_failed_run_exits_1_with_partial_results(cli: Cli) -> None:
    cli.write(PIPELINE)
    data = cli.json("workflow", "run", "research", "-i", "please fail now", "--json", code=1)
    check_run_contract(data)
    assert data["status"] == "failed"
    assert data["error"] == "1 step(s) failed: critic"
    by_id = {s["agent_id"]: s for s in data["steps"]}
    assert by_id["researcher"]["status"] == "completed" and by_id["researcher"]["output"]
    assert by_id["critic"]["status"] == "failed" and "asked to fail" in by_id["critic"]["error"]
    assert by_id["writer"] | {"status": "skipped", "error": "upstream failed: critic", "attempts": 0} == by_id["writer"]


def test_live_view_without_a_terminal_prints_progress_and_output(cli: Cli) -> None:
    cli.write(PIPELINE)
    result = cli("workflow", "run", "research", "-i", "plain view")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("▶ researcher started") < out.index("✓ researcher finished") < out.index("▶ writer started")
    assert "run run-" in out and "completed" in out
    assert "3/3 steps" in out


def test_unknown_workflow_is_not_found_with_a_suggestion(cli: Cli) -> None:
    cli.write(PIPELINE)
    result = cli("workflow", "run", "reserch", "-i", "x", "--json")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "unknown workflow 'reserch'" in result.stderr
    assert "did you mean 'research'?" in result.stderr


def test_missing_input_option_is_a_usage_error(cli: Cli) -> None:
    cli.write(PIPELINE)
    result = cli.runner.invoke(app, ["--config", str(cli.config), "workflow", "run", "research"])
    assert result.exit_code == 2
    assert "--input" in result.output or "-i" in result.output


def test_a_bad_option_value_is_refused_in_our_words(cli: Cli) -> None:
    # Typer checks values with pydantic; its wording ("Input should be ...") must not reach the user.
    cli.write(PIPELINE)
    cases = {
        ("runs", "list", "--limit", "0"): "Invalid value for '--limit' / '-n': must be at least 1 (got '0')",
        ("runs", "list", "-n", "many"): "Invalid value for '--limit' / '-n': expected a whole number, got 'many'",
        ("memory", "search", "researcher", "q", "-k", "500"): "Invalid value for '-k': must be at most 100 (got '500')",
        ("doctor", "--timeout", "soon"): "Invalid value for '--timeout': expected a number, got 'soon'",
    }
    for args, said in cases.items():
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert said in result.stderr and "Input should" not in result.stderr, (args, result.stderr)


# ---------------------------------------------------------------------------------------- runs


def test_runs_resume_retries_a_failed_run_after_the_config_is_fixed(cli: Cli) -> None:
    cli.write(PIPELINE)
    failed = cli.json("workflow", "run", "research", "-i", "please fail now", "--json", code=1)
    cli.write(PIPELINE.replace('options: {fail_when: "please fail"}', "options: {}"))
    resumed = cli.json("runs", "resume", failed["run_id"], "--json")
    check_run_contract(resumed)
    assert resumed["run_id"] == failed["run_id"] and resumed["status"] == "completed"
    attempts = [(s["agent_id"], s["attempts"]) for s in resumed["steps"]]
    assert attempts == [("researcher", 1), ("critic", 2), ("writer", 1)]
    assert resumed["steps"][0]["output"] == failed["steps"][0]["output"]
    again = cli("runs", "resume", failed["run_id"], "--json")
    assert again.exit_code == 2
    assert "already completed" in again.stderr


def test_unknown_run_ids_are_clear_errors_with_a_suggestion(cli: Cli) -> None:
    cli.write(PIPELINE)
    run_id = cli.json("workflow", "run", "research", "-i", "x", "--json")["run_id"]
    typo = run_id[:-1] + ("0" if run_id[-1] != "0" else "1")
    for command in (["runs", "show", typo, "--json"], ["runs", "resume", typo]):
        result = cli(*command)
        assert result.exit_code == 3, command
        assert f"no run '{typo}'" in result.stderr
        assert f"did you mean '{run_id}'?" in result.stderr
    far = cli("runs", "show", "something-else")
    assert far.exit_code == 3
    assert "axocoatl runs list" in far.stderr


def test_runs_list_without_runs_or_config(cli: Cli) -> None:
    assert cli.json("runs", "list", "--json") == []
    result = cli("runs", "list")
    assert result.exit_code == 0
    assert "no runs yet" in result.stdout


def test_data_dir_option_and_environment(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.write(PIPELINE)
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("AXOCOATL_DATA_DIR", str(elsewhere))
    result = cli.runner.invoke(
        app, ["--config", str(cli.config), "workflow", "run", "research", "-i", "x", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert (elsewhere / "axocoatl.db").exists()
    assert not cli.data.exists()
    run_id = json.loads(result.stdout)["run_id"]
    assert cli("runs", "show", run_id).exit_code == 3  # --data-dir wins over the environment


# ---------------------------------------------------------------------------------------- config schema


def test_config_schema_is_a_json_schema_that_accepts_the_scaffold(cli: Cli, tmp_path: Path) -> None:
    result = cli("config", "schema", config=False)
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["type"] == "object"
    assert {"agents", "workflows", "skills", "providers", "store"} <= set(schema["properties"])
    defs = schema.get("$defs", {})
    refs = set(re.findall(r'"\$ref": "#/\$defs/([^"]+)"', result.stdout))
    assert refs and refs <= set(defs), f"dangling $refs: {refs - set(defs)}"
    agent = defs["AgentConfig"]
    assert agent["required"] == ["id"]
    assert agent.get("additionalProperties") is False
    assert "depends_on" in agent["properties"] and "token_budget" in agent["properties"]


def test_validate_reports_schema_and_reference_errors_together(cli: Cli) -> None:
    path = cli.write(
        """\
        agents:
          - id: a
            provider: mock
            dependson: [b]
          - id: b
            provider: mock
            depends_on: [ghost]
            timeout_secs: 0
        """
    )
    result = cli("validate")
    assert result.exit_code == 2
    name = re.escape(str(path))
    assert re.search(rf"{name}:4: agents\[a\]\.dependson: unknown key", result.stderr), result.stderr
    assert re.search(rf"{name}:7: agents\[b\]\.depends_on\[0\]: .*'ghost'", result.stderr), result.stderr
    assert re.search(rf"{name}:8: agents\[b\]\.timeout_secs: ", result.stderr), result.stderr


def test_workflow_input_can_come_from_stdin(cli: Cli) -> None:
    cli.write(PIPELINE)
    prefix = ["--config", str(cli.config), "--data-dir", str(cli.data)]
    result = cli.runner.invoke(app, [*prefix, "workflow", "run", "research", "-i", "-", "--json"], input="long task\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["input"] == "long task\n"
    empty = cli.runner.invoke(app, [*prefix, "workflow", "run", "research", "-i", "-"], input="")
    assert empty.exit_code == 2
    assert "stdin was empty" in empty.output
