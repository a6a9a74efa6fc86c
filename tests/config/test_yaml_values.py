"""Values YAML cannot build (impossible dates, malformed numbers, tags, control characters, deep
nesting) and numbers that mean nothing (.inf, .nan): each is a `file:line: field: message` issue."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from axocoatl import load_config
from axocoatl.core.errors import ConfigError

from .support import at, errors, load

TWO_AGENTS = """\
agents:
  - id: a
    provider: mock
  - id: b
    provider: mock
    {line}
"""


def _issue_of(line: str) -> tuple[str, int | None, str, str | None]:
    [issue] = errors(TWO_AGENTS.format(line=line))
    return issue.path, issue.line, issue.message, issue.hint


@pytest.mark.parametrize(
    ("line", "message", "hint"),
    [
        (
            "system_prompt: 2024-02-30",
            "YAML reads '2024-02-30' as a date, but it is not a valid date (day is out of range for month)",
            'quote it: system_prompt: "2024-02-30"',
        ),
        (
            "system_prompt: 2024-01-01 25:00:00",
            "YAML reads '2024-01-01 25:00:00' as a date and time, but it is not a valid date and time "
            "(hour must be in 0..23)",
            'quote it: system_prompt: "2024-01-01 25:00:00"',
        ),
        (
            "timeout_secs: 0x_",
            "YAML reads '0x_' as a number, but it is not a valid number",
            'quote it: timeout_secs: "0x_"',
        ),
        (
            "model: 0b_",
            "YAML reads '0b_' as a number, but it is not a valid number",
            'quote it: model: "0b_"',
        ),
    ],
)
def test_scalars_yaml_cannot_build_name_the_field_and_say_quote_it(line: str, message: str, hint: str) -> None:
    path, number, got_message, got_hint = _issue_of(line)
    assert (path, number) == (f"agents[b].{line.split(':')[0]}", 6)
    assert (got_message, got_hint) == (message, hint)


def test_a_number_longer_than_python_allows() -> None:
    digits = sys.get_int_max_str_digits() + 700
    path, line, message, hint = _issue_of("timeout_secs: " + "9" * digits)
    assert (path, line) == ("agents[b].timeout_secs", 6)
    assert message.startswith("YAML reads '99999999999999999999…")
    limit = sys.get_int_max_str_digits()
    assert message.endswith(f"as a number, but it has {digits} digits, more than the {limit} digits a number may have")
    assert hint == "put the value in quotes to keep it as text"


def test_every_bad_value_is_reported_at_once_with_list_items_by_position() -> None:
    issues = errors(
        """\
        agents:
          - id: b
            timeout_secs: !!int abc
            model: !foo x
            tools: [=, "ok", 0b_]
            options: !!set {a}
            name: !!bool maybe
        """
    )
    assert [(i.path, i.line) for i in issues] == [
        ("agents[b].timeout_secs", 3),
        ("agents[b].model", 4),
        ("agents[b].tools[0]", 5),
        ("agents[b].tools[2]", 5),
        ("agents[b].options", 6),
        ("agents[b].name", 7),
    ]
    assert at(issues, "agents[b].timeout_secs").message == "'abc' is not a number, as its tag !!int says"
    assert at(issues, "agents[b].timeout_secs").hint == "remove !!int, or write a whole number such as 42"
    assert at(issues, "agents[b].model").message == "YAML tag !foo is not supported"
    assert at(issues, "agents[b].tools[0]").message == "YAML reads '=' as a special value, not as text"
    assert at(issues, "agents[b].tools[0]").hint == 'quote it: - "="'
    assert at(issues, "agents[b].options").message == "YAML tag !!set is not supported"
    assert at(issues, "agents[b].name").hint == "remove !!bool, or write true or false"


def test_valid_dates_where_text_is_expected_are_told_to_be_quoted() -> None:
    [issue] = errors("agents:\n  - id: b\n    system_prompt: 2024-02-28\n")
    assert (issue.path, issue.message) == ("agents[b].system_prompt", "expected text, got 2024-02-28")
    assert issue.hint == "quote the value to make it text: '2024-02-28'"


def test_explicit_core_tags_that_fit_still_work() -> None:
    loaded = load("server:\n  port: !!int '9000'\nagents:\n  - id: a\n    name: !!str 2024-01-01\n")
    assert loaded.config.server.port == 9000
    assert loaded.config.agents[0].name == "2024-01-01"


def test_control_characters_are_reported_with_line_and_column() -> None:
    [issue] = errors("agents:\n  - id: b\n    name: x\x01\n")
    assert (issue.path, issue.line) == ("(yaml)", 3)
    assert issue.message == "the file contains the control character U+0001 at column 12, which YAML does not allow"
    assert issue.hint == 'remove it, or write it as an escape inside a double-quoted string: "\\x01"'


def test_text_that_is_not_unicode_is_reported_not_raised() -> None:
    # What os.fsdecode or surrogateescape make of bytes that are not UTF-8.
    [issue] = errors("agents:\n  - id: b\n    name: caf\udce9\n")
    assert (issue.path, issue.line) == ("(yaml)", 3)
    assert issue.message == "the text is not valid Unicode at column 14: surrogates not allowed (U+DCE9)"


@pytest.mark.parametrize("depth", [150, 5000])
def test_deep_nesting_is_an_issue_not_a_recursion_error(depth: int) -> None:
    [issue] = errors("agents: " + "[" * depth + "]" * depth + "\n")
    assert issue.line == 1
    assert "nest" in issue.message
    assert issue.hint == "flatten the structure: a config needs only a few levels of nesting"


def test_merging_a_scalar_is_a_yaml_error_with_a_hint() -> None:
    [issue] = errors("agents:\n  - id: a\n    <<: 1\n")
    assert issue.message.startswith("YAML error at column")
    assert issue.hint == "'<<:' merges a mapping: write <<: *name where &name marks a mapping"


NON_FINITE = """\
agents:
  - id: a
    provider: mock
    timeout_secs: .inf
    activation_threshold: .nan
    activation_decay: .inf
    sampling: {temperature: .nan, top_p: -.inf}
    token_budget: {per_execution: .inf}
    memory: {recall: {min_score: .nan}}
workflows:
  - id: w
    agents: [a]
    timeout_secs: 1e999
providers:
  openai: {timeout_secs: .inf, connect_timeout_secs: .NaN}
  ollama: {timeout_secs: .inf}
consolidation: {idle_threshold_secs: .inf, interval_secs: .inf}
"""


def test_non_finite_numbers_are_refused_wherever_they_appear() -> None:
    issues = errors(NON_FINITE)
    assert [i.path for i in issues] == [
        "agents[a].timeout_secs",
        "agents[a].activation_threshold",
        "agents[a].activation_decay",
        "agents[a].sampling.temperature",
        "agents[a].sampling.top_p",
        "agents[a].token_budget.per_execution",
        "agents[a].memory.recall.min_score",
        "workflows[w].timeout_secs",
        "providers.openai.timeout_secs",
        "providers.openai.connect_timeout_secs",
        "providers.ollama.timeout_secs",
        "consolidation.idle_threshold_secs",
        "consolidation.interval_secs",
    ]
    first = issues[0]
    assert (first.line, first.message) == (4, "must be a finite number (got inf)")
    assert first.hint == "write an ordinary number; .inf and .nan are not allowed here"


def test_non_finite_mock_options_are_refused() -> None:
    [issue] = errors("agents:\n  - id: a\n    provider: mock\n    options: {latency_ms: .inf}\n")
    assert (issue.path, issue.message) == ("agents[a].options.latency_ms", "must be a finite number (got inf)")


def test_non_finite_from_an_environment_variable_blames_the_value() -> None:
    [issue] = errors("agents:\n  - id: a\n    timeout_secs: ${T}\n", env={"T": "nan"})
    assert (issue.path, issue.message) == ("agents[a].timeout_secs", "must be a finite number (got 'nan')")


def test_load_config_reports_yaml_values_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "axocoatl.yaml"
    path.write_text(TWO_AGENTS.format(line="system_prompt: 2024-02-30"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value).splitlines()[1] == (
        f"{path}:6: agents[b].system_prompt: YAML reads '2024-02-30' as a date, "
        "but it is not a valid date (day is out of range for month)"
    )


def test_an_environment_variable_that_is_not_utf8_is_an_error() -> None:
    [issue] = errors("agents:\n  - id: a\n    system_prompt: ${P}\n", env={"P": "caf\udce9"})
    assert (issue.path, issue.line) == ("agents[a].system_prompt", 3)
    assert issue.message == "environment variable P is not UTF-8 text"
