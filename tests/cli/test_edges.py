"""The CLI at its edges, in-process: user text is printed as written (never read as Rich markup),
inputs must be UTF-8 within the daemon's body limit, and validate reports what the config layer cannot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from axocoatl.cli.main import app

from .support import Cli

MARKUP = """\
agents:
  - id: a
    provider: mock
    model: "[red]m[/red]"
    memory:
      core:
        blocks:
          - {label: notes, description: "[bold]keep[/bold] [/]"}
workflows:
  - id: triage
    name: "Triage [/tmp files]"
    agents: [a]
    entry_point: a
  - id: research
    name: "Research [beta] pipeline :rocket:"
    agents: [a]
    entry_point: a
skills:
  - id: s
    emits: ["[/]"]
    reacts_to: ["[/]"]
    agents: [a]
"""


# ------------------------------------------------------------------------------ text printed as written


def test_a_dotenv_line_that_looks_like_markup_is_a_warning_not_a_crash(cli: Cli) -> None:
    cli.write("agents: []\n")
    (cli.root / ".env").write_text("[/]\n", encoding="utf-8")
    result = cli("validate")
    assert result.exit_code == 0, result.output
    assert "cannot read line 1: '[/]'" in result.stderr
    listed = cli("workflow", "list")
    assert listed.exit_code == 0 and "cannot read line 1: '[/]'" in listed.stderr


def test_names_with_brackets_and_emoji_codes_are_listed_as_written(cli: Cli) -> None:
    cli.write(MARKUP)
    workflows = cli("workflow", "list")
    assert workflows.exit_code == 0, workflows.output
    assert "Triage [/tmp files]" in workflows.stdout
    assert "Research [beta] pipeline :rocket:" in workflows.stdout
    agents = cli("agents", "list")
    assert agents.exit_code == 0 and "mock/[red]m[/red]" in agents.stdout
    skills = cli("skills", "list")
    assert skills.exit_code == 0 and skills.stdout.count("[/]") == 2
    blocks = cli("memory", "blocks", "a")
    assert blocks.exit_code == 0, blocks.output
    assert "(empty — [bold]keep[/bold] [/])" in blocks.stdout


def test_an_unknown_agent_named_like_markup_is_reported_as_written(cli: Cli) -> None:
    cli.write(MARKUP)
    result = cli("chat", "--local", "-a", "[/x]", "-m", "hi")
    assert result.exit_code == 3
    assert "unknown agent '[/x]'" in result.stderr


def test_run_output_with_markup_is_shown_as_written(cli: Cli) -> None:
    cli.write(
        """\
        agents:
          - id: a
            provider: mock
            options: {reply: '[/] [bold]{input}'}
        workflows:
          - id: w
            agents: [a]
        """
    )
    run = cli("workflow", "run", "w", "-i", "[red]x[/red]")
    assert run.exit_code == 0, run.output
    assert "[/] [bold][red]x[/red]" in run.stdout
    listed = cli("runs", "list")
    assert listed.exit_code == 0 and "completed" in listed.stdout


# ---------------------------------------------------------------------------------------- input text


BUDGETED = """\
agents:
  - id: a
    provider: mock
workflows:
  - id: w
    agents: [a]
    entry_point: a
skills:
  - id: s
    emits: [Go]
  - id: r
    reacts_to: [Go]
    agents: [a]
server: {max_body_bytes: 64}
"""


@pytest.mark.parametrize(
    "command",
    [["workflow", "run", "w", "-i"], ["skills", "fire", "s", "-i"], ["chat", "--local", "-a", "a", "-m"]],
    ids=["workflow-run", "skills-fire", "chat"],
)
def test_inputs_over_the_body_limit_are_refused_with_the_limit_and_the_key(cli: Cli, command: list[str]) -> None:
    cli.write(BUDGETED)
    result = cli(*command, "x" * 65)
    assert result.exit_code == 2
    option = command[-1]
    assert f"Error: {option} is 65 bytes, over the input limit of 64 bytes" in result.stderr
    assert "raise server.max_body_bytes in the config" in result.stderr
    assert cli(*command, "é" * 32).exit_code == 0  # 64 bytes of UTF-8: exactly the limit


def test_stdin_over_the_limit_is_refused_without_reading_it_all(cli: Cli) -> None:
    cli.write(BUDGETED)
    result = cli("workflow", "run", "w", "-i", "-", input=b"x" * 10_000)
    assert result.exit_code == 2
    assert "stdin (-i -) is more than 64 bytes, over the input limit of 64 bytes" in result.stderr


@pytest.mark.parametrize(
    ("data", "detail"),
    [(b"caf\xe9", "byte 4 (0xe9) is not valid UTF-8"), (b"\xff\xfe\x00", "byte 1 (0xff) is not valid UTF-8")],
    ids=["latin-1", "binary"],
)
def test_stdin_that_is_not_utf8_is_refused_with_the_byte_position(cli: Cli, data: bytes, detail: str) -> None:
    cli.write(BUDGETED)
    result = cli("workflow", "run", "w", "-i", "-", input=data)
    assert result.exit_code == 2
    assert f"stdin (-i -) is not UTF-8 text: {detail}" in result.stderr
    assert "re-encode the text as UTF-8" in result.stderr
    assert not cli.data.exists()  # refused before anything ran


def test_arguments_that_are_not_utf8_are_refused_with_the_character_position(cli: Cli) -> None:
    # How Python hands over argv bytes that are not UTF-8: one lone surrogate per byte (surrogateescape).
    cli.write(BUDGETED)
    for command in (["workflow", "run", "w", "-i"], ["chat", "--local", "-a", "a", "-m"], ["memory", "search", "a"]):
        result = cli(*command, "caf\udce9")
        assert result.exit_code == 2, command
        assert "is not UTF-8 text: character 4 (the byte 0xe9) is not valid" in result.stderr


def test_valid_unicode_input_runs(cli: Cli) -> None:
    cli.write(BUDGETED)
    result = cli("workflow", "run", "w", "-i", "-", "--json", input="naïve 🦎".encode())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["input"] == "naïve 🦎"


# ------------------------------------------------------------------------------------- data directory


def test_a_data_dir_that_is_a_file_is_a_usage_error(cli: Cli) -> None:
    cli.write(BUDGETED)
    cli.data.write_text("not a directory")
    for command in (["runs", "list"], ["workflow", "run", "w", "-i", "x"], ["tokens", "report"]):
        result = cli(*command)
        assert result.exit_code == 2, command
        assert f"Error: the data directory {cli.data} is a file, not a directory" in result.stderr
        assert "point --data-dir (or AXOCOATL_DATA_DIR) at a directory" in result.stderr


def test_a_data_dir_below_a_file_is_a_usage_error(cli: Cli) -> None:
    cli.write(BUDGETED)
    (cli.root / "file").write_text("x")
    result = CliRunner().invoke(
        app, ["--config", str(cli.config), "--data-dir", str(cli.root / "file" / "sub"), "runs", "list"]
    )
    assert result.exit_code == 2
    assert f"cannot be created: {cli.root / 'file'} is a file" in result.stderr


# -------------------------------------------------------------------------------------------- validate


def test_validate_reports_a_local_model_file_that_does_not_exist(cli: Cli) -> None:
    cli.write(
        """\
        agents:
          - id: a
            model: ./missing.gguf
          - id: b
            model: ./missing.gguf
          - id: c
            provider: mock
        """
    )
    result = cli("validate")
    assert result.exit_code == 2
    missing = Path("missing.gguf").resolve()
    assert f"{cli.config}:3: agents[a].model: local model file '{missing}' does not exist" in result.stderr
    assert "set the agent's model (or providers.local.model) to the path of a GGUF file" in result.stderr
    assert "agents[b]" not in result.stderr  # one model, reported once


def test_validate_reports_a_file_that_is_not_gguf_under_providers_local(cli: Cli) -> None:
    (cli.root / "model.bin").write_bytes(b"PK\x03\x04 not gguf")
    cli.write(f"providers:\n  local:\n    model: {cli.root / 'model.bin'}\nagents:\n  - id: a\n")
    result = cli("validate")
    assert result.exit_code == 2
    assert f"{cli.config}:3: providers.local.model: local model file" in result.stderr
    assert "is not a GGUF file" in result.stderr


def test_validate_accepts_an_existing_gguf_file_and_prints_warnings(cli: Cli) -> None:
    (cli.root / "tiny.gguf").write_bytes(b"GGUF" + b"\x00" * 16)
    cli.write(f"agents:\n  - id: a\n    model: {cli.root / 'tiny.gguf'}\n    role: worker\n")
    result = cli("validate")
    assert result.exit_code == 0, result.output
    assert "is valid" in result.stdout
    assert (
        f"warning: {cli.config}:4: agents[a].role: role 'worker' has no effect: 'a' is in no workflow" in result.stderr
    )
