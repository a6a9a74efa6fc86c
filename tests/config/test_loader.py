"""Loading files: missing or unreadable files, YAML syntax errors, line mapping and error rendering."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from axocoatl.config import LoadedConfig, config_json_schema, load_config, parse_config_text
from axocoatl.core.errors import ConfigError

from .support import FILE, at, errors, load


def test_missing_file_names_the_path_and_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [issue] = caught.value.issues
    assert issue.message == f"config file not found: {path}"
    assert issue.hint is not None
    assert "axocoatl init NAME" in issue.hint and "--config PATH" in issue.hint
    assert caught.value.file == str(path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.issues[0].message == f"{tmp_path} is a directory, not a config file"


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "axocoatl.yaml"
    path.write_bytes(b"server:\n  host: \xff\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.issues[0].hint == "save the file as UTF-8"


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_empty_file_is_valid(tmp_path: Path, text: str) -> None:
    path = tmp_path / "axocoatl.yaml"
    path.write_text(text)
    loaded = load_config(path, env={})
    assert loaded.config.agents == [] and loaded.config.server.port == 8080
    assert loaded.path == path
    assert loaded.warnings == []


def test_loaded_config_is_frozen() -> None:
    loaded = load("")
    assert isinstance(loaded, LoadedConfig)
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.path = Path("x")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "kind"),
    [("- a\n- b\n", "a list"), ("just text\n", "a single value (str)"), ("42\n", "a single value (int)")],
)
def test_top_level_must_be_a_mapping(text: str, kind: str) -> None:
    [issue] = errors(text)
    assert issue.path == "(top level)"
    assert issue.line == 1
    assert issue.message == f"the top level must be a mapping of sections, not {kind}"


def test_yaml_syntax_error_with_tab_indentation() -> None:
    [issue] = errors("agents:\n  - id: a\n\tprovider: mock\n")
    assert issue.path == "(yaml)"
    assert issue.line == 3
    assert issue.message.startswith("YAML syntax error at column 1:")
    assert issue.hint == "YAML does not allow tabs for indentation; indent with spaces"


def test_yaml_syntax_error_with_bad_indentation() -> None:
    [issue] = errors("agents:\n  - id: a\n    provider: mock\n   model: x\n")
    assert issue.line == 4
    assert issue.hint is not None and "indentation" in issue.hint


def test_yaml_unclosed_flow_list() -> None:
    [issue] = errors("agents:\n  - id: a\n    depends_on: [b, c\n    model: x\n")
    assert issue.line == 4
    assert issue.hint is not None and "not closed" in issue.hint


def test_yaml_unclosed_quote_names_where_it_started() -> None:
    [issue] = errors('agents:\n  - id: a\n    system_prompt: "never closed\n    model: x\n')
    assert issue.line == 3
    assert "while scanning a quoted scalar, found unexpected end of stream" in issue.message
    assert issue.hint is not None and "quote" in issue.hint


def test_yaml_colon_in_unquoted_value() -> None:
    [issue] = errors("agents:\n  - id: a\n    system_prompt: Note: be brief\n")
    assert issue.line == 3
    assert issue.hint is not None and "quoted" in issue.hint


def test_multiple_documents_are_rejected() -> None:
    [issue] = errors("agents: []\n---\nworkflows: []\n")
    assert issue.hint == "an axocoatl.yaml holds one document; remove the extra '---'"


def test_unsupported_tag_is_rejected_at_its_field() -> None:
    [issue] = errors("server: !!python/object:os.system {}\n")
    assert (issue.path, issue.line) == ("server", 1)
    assert issue.message == "YAML tag !!python/object:os.system is not supported"


def test_duplicate_keys_are_errors() -> None:
    [issue] = errors(
        """\
        agents:
          - id: a
            provider: mock
            provider: local
        """
    )
    assert (issue.path, issue.line) == ("agents[a].provider", 4)
    assert issue.message == "duplicate key 'provider' (first used on line 3)"
    assert issue.hint == "YAML keeps only the last one; merge the two into one entry"
    [top] = errors("agents: []\nserver: {}\nagents: []\n")
    assert (top.path, top.line) == ("agents", 3)


def test_anchors_and_merge_keys_work_and_keep_lines() -> None:
    text = """\
    x-defaults: &defaults
      provider: mock
      timeout_secs: 10
    """
    # Unknown top-level keys are rejected, so anchors live inside a real section.
    loaded = load(
        """\
        agents:
          - &base
            id: a
            provider: mock
            timeout_secs: 10
          - <<: *base
            id: b
            depends_on: [a]
        """
    )
    assert [(a.id, a.provider, a.timeout_secs) for a in loaded.config.agents] == [("a", "mock", 10), ("b", "mock", 10)]
    issues = errors(
        """\
        agents:
          - &base
            id: a
            provider: mock
          - <<: *base
            id: b
            depends_on: [ghost]
        """
    )
    assert at(issues, "agents[b].depends_on[0]").line == 7
    assert errors(text)[0].path == "x-defaults"


def test_recursive_alias_is_rejected() -> None:
    [issue] = errors("agents: &a\n  - *a\n")
    assert issue.path == "(yaml)"
    assert "recursive" in issue.message


def test_error_rendering_shows_file_line_path_message_and_hint() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config_text("agents:\n  - id: writer\n    depnds_on: [a]\n", file=FILE, env={})
    assert str(caught.value) == (
        "axocoatl.yaml has 1 error:\n"
        "axocoatl.yaml:3: agents[writer].depnds_on: unknown key 'depnds_on'\n"
        "    hint: did you mean 'depends_on'?"
    )


def test_issues_carry_the_file_as_given(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("agents:\n  - id: a\n    depends_on: [b]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    [issue] = caught.value.issues
    assert issue.render().startswith(f"{path}:3: agents[a].depends_on[0]: depends_on entry 'b' is not an agent")


def test_schema_errors_come_before_semantic_ones() -> None:
    # Semantic checks need a schema-valid config; a schema error is reported alone.
    issues = errors("agents:\n  - id: a\n    depends_on: [ghost]\n    role: boss\n")
    assert [i.path for i in issues] == ["agents[a].role"]


def test_config_json_schema() -> None:
    schema = config_json_schema()
    assert schema["title"] == "axocoatl.yaml"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["description"]
    assert set(schema["properties"]) >= {"agents", "workflows", "providers", "skills", "schedules"}
    agent = schema["$defs"]["AgentConfig"]
    assert agent["additionalProperties"] is False
    assert agent["properties"]["depends_on"]["description"]
    json.dumps(schema)


@pytest.mark.parametrize(("key", "kind"), [("yes", "true/false"), ("1", "a number"), ("~", "null")])
def test_keys_that_yaml_reads_as_non_text(key: str, kind: str) -> None:
    [issue] = errors(f"agents:\n  - id: a\n    options:\n      {key}: x\n")
    assert (issue.path, issue.line) == ("agents[a].options", 4)
    assert issue.message == f"the key '{key}' is not text: YAML reads it as {kind}"
    assert issue.hint == f"quote it: '{key}'"


def test_alias_expansion_is_capped() -> None:
    levels = ["a0: &a0 [" + ", ".join(["x"] * 20) + "]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 20) + "]" for i in range(1, 6)]
    [issue] = errors("\n".join(levels) + "\n")
    assert "expands to more than" in issue.message


def test_a_config_or_env_file_that_never_ends_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("/dev/zero", env={})
    [issue] = caught.value.issues
    assert issue.message == "/dev/zero is not a config file: the file is larger than 8 MiB"
    config = tmp_path / "axocoatl.yaml"
    config.write_text("agents: []\n")
    (tmp_path / ".env").symlink_to("/dev/zero")
    [warning] = load_config(config, env={}).warnings
    assert warning.message == f"cannot read {tmp_path / '.env'}: the file is larger than 8 MiB"
    assert warning.severity == "warning"
