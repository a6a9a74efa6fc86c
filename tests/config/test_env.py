"""``.env`` parsing and ``${VAR}`` interpolation, alone and through the loader."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from axocoatl.config import load_config
from axocoatl.config.env import build_environment, interpolate, parse_dotenv

from .support import at, errors, load


def test_parse_dotenv_forms() -> None:
    values, warnings = parse_dotenv(
        "# comment\n"
        "\n"
        "PLAIN=value\n"
        "export EXPORTED=yes\n"
        "SPACED = padded   \n"
        "SINGLE='it is $NOT #kept'\n"
        'DOUBLE="line\\nbreak \\"quoted\\" # kept"\n'
        "COMMENTED=value # trailing comment\n"
        "URL=http://host/a#fragment\n"
        "EMPTY=\n"
        'QUOTED_EMPTY=""\n'
    )
    assert warnings == []
    assert values == {
        "PLAIN": "value",
        "EXPORTED": "yes",
        "SPACED": "padded",
        "SINGLE": "it is $NOT #kept",
        "DOUBLE": 'line\nbreak "quoted" # kept',
        "COMMENTED": "value",
        "URL": "http://host/a#fragment",
        "EMPTY": "",
        "QUOTED_EMPTY": "",
    }


def test_parse_dotenv_single_quotes_are_literal() -> None:
    values, _ = parse_dotenv("A='x $HOME \\n'\n")
    assert values == {"A": "x $HOME \\n"}


def test_parse_dotenv_warns_about_unreadable_lines() -> None:
    values, warnings = parse_dotenv("GOOD=1\nthis is not an assignment\nBAD='unclosed\n", file="/p/.env")
    assert values == {"GOOD": "1"}
    assert [(w.line, w.severity, w.file) for w in warnings] == [(2, "warning", "/p/.env"), (3, "warning", "/p/.env")]
    assert warnings[0].hint is not None and "KEY=VALUE" in warnings[0].hint


def test_process_environment_wins_over_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SHARED=from-file\nONLY_FILE=file\n")
    env, warnings = build_environment(tmp_path, {"SHARED": "from-process"})
    assert warnings == []
    assert env == {"SHARED": "from-process", "ONLY_FILE": "file"}


def test_a_variable_exported_empty_does_not_hide_the_dotenv_value(tmp_path: Path) -> None:
    # `export OPENAI_API_KEY=` in a shell profile must not hide the key `onboard` wrote to .env.
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-from-file\nOTHER=file\n")
    env, _ = build_environment(tmp_path, {"OPENAI_API_KEY": "", "OTHER": "shell"})
    assert (env["OPENAI_API_KEY"], env["OTHER"]) == ("sk-from-file", "shell")


def test_build_environment_does_not_touch_os_environ(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("AXOCOATL_TEST_ONLY_IN_FILE=1\n")
    before = dict(os.environ)
    env, _ = build_environment(tmp_path)
    assert env["AXOCOATL_TEST_ONLY_IN_FILE"] == "1"
    assert "AXOCOATL_TEST_ONLY_IN_FILE" not in os.environ
    assert dict(os.environ) == before


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("plain", {}, "plain"),
        ("${A}", {"A": "1"}, "1"),
        ("x-${A}-${B}-y", {"A": "1", "B": "2"}, "x-1-2-y"),
        ("${A:-fallback}", {}, "fallback"),
        ("${A:-fallback}", {"A": ""}, "fallback"),
        ("${A:-fallback}", {"A": "set"}, "set"),
        ("${A:-}", {}, ""),
        ("$${A}", {"A": "1"}, "${A}"),
        ("cost: $5", {}, "cost: $5"),
        ("${A:-has: colon}", {}, "has: colon"),
    ],
)
def test_interpolate(text: str, env: dict[str, str], expected: str) -> None:
    result = interpolate(text, env)
    assert (result.value, result.unset, result.errors) == (expected, [], [])


def test_interpolate_unset_and_required() -> None:
    unset = interpolate("a${MISSING}b", {})
    assert (unset.value, unset.unset) == ("ab", ["MISSING"])
    required = interpolate("${KEY:?needed to call the API}", {})
    assert required.errors == [
        (
            "environment variable KEY is not set: needed to call the API",
            "set KEY in the environment, or add KEY=... to the .env file next to the config",
        )
    ]


@pytest.mark.parametrize("text", ["${1BAD}", "${A B}", "${}", "${A:=x}", "${A"])
def test_interpolate_rejects_malformed_references(text: str) -> None:
    result = interpolate(text, {"A": "1"})
    assert len(result.errors) == 1
    assert "$${" in result.errors[0][1]


def test_unset_variable_is_a_warning_with_path_and_line() -> None:
    loaded = load(
        """\
        agents:
          - id: a
            provider: openai
        providers:
          openai:
            api_key: ${OPENAI_API_KEY}
        """
    )
    [warning] = loaded.warnings
    assert warning.severity == "warning"
    assert warning.path == "providers.openai.api_key"
    assert warning.line == 6
    assert "OPENAI_API_KEY" in warning.message
    assert warning.hint == (
        "set OPENAI_API_KEY in the environment, or add OPENAI_API_KEY=... to the .env file next to the config"
    )
    api_key = loaded.config.providers.openai.api_key if loaded.config.providers.openai else None
    assert api_key is not None and api_key.get_secret_value() == ""


def test_required_variable_is_an_error() -> None:
    [issue] = errors("server:\n  host: ${HOST:?the bind address}\n")
    assert (issue.path, issue.line) == ("server.host", 2)
    assert issue.message == "environment variable HOST is not set: the bind address"


def test_interpolated_value_is_coerced_by_the_schema() -> None:
    config = load("server:\n  port: ${PORT}\n  host: ${HOST:-0.0.0.0}\n", env={"PORT": "9000"}).config
    assert (config.server.port, config.server.host) == (9000, "0.0.0.0")


def test_bad_value_from_unset_variable_blames_the_variable() -> None:
    [issue] = errors("server:\n  port: ${PORT}\n")
    assert issue.message == "expected a whole number, got an empty value"
    assert issue.hint is not None and "${PORT}, which is not set" in issue.hint


def test_variables_cannot_inject_yaml() -> None:
    injected = "x\nagents:\n  - id: evil"
    config = load("agents:\n  - id: a\n    system_prompt: ${PROMPT}\n", env={"PROMPT": injected}).config
    assert [a.id for a in config.agents] == ["a"]
    assert config.agents[0].system_prompt == injected


def test_keys_and_comments_are_not_interpolated_and_lines_stay_exact() -> None:
    multi_line = "one\ntwo\nthree"
    issues = errors(
        """\
        # ${COMMENT} is ignored
        agents:
          - id: a
            system_prompt: ${LONG}
          - id: b
            depends_on: [ghost]
        """,
        env={"LONG": multi_line},
    )
    assert at(issues, "agents[b].depends_on[0]").line == 6


def test_load_config_reads_dotenv_beside_the_file(tmp_path: Path) -> None:
    (tmp_path / "axocoatl.yaml").write_text("server:\n  port: ${PORT}\n  host: ${HOST}\n")
    (tmp_path / ".env").write_text("export PORT=8123\nHOST=10.0.0.1\n")
    loaded = load_config(tmp_path / "axocoatl.yaml", env={"HOST": "127.0.0.2"})
    assert (loaded.config.server.port, loaded.config.server.host) == (8123, "127.0.0.2")
    assert loaded.warnings == []


def test_load_config_passes_on_dotenv_warnings(tmp_path: Path) -> None:
    (tmp_path / "axocoatl.yaml").write_text("")
    (tmp_path / ".env").write_text("garbage line\n")
    [warning] = load_config(tmp_path / "axocoatl.yaml", env={}).warnings
    assert warning.file == str(tmp_path / ".env")
    assert warning.line == 1
