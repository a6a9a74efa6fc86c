"""Validation of coordinator workflows: the coordinator, its workers, the HTN methods file (file:line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from axocoatl.config import load_config
from axocoatl.core.errors import ConfigError

from .support import at, errors, load

TEAM = """\
agents:
  - id: boss
    role: coordinator
  - id: hand
    role: worker
  - id: other
    role: worker
workflows:
  - id: team
    agents: [boss, hand, other]
"""


def test_a_coordinator_workflow_is_valid_and_its_workers_are_not_unreachable() -> None:
    loaded = load(TEAM)
    assert loaded.warnings == []
    assert load(TEAM + "    entry_point: boss\n").warnings == []


def test_coordinator_rules() -> None:
    issues = errors(
        """\
        agents:
          - id: boss
            role: coordinator
          - id: boss2
            role: coordinator
          - id: hand
            role: worker
            depends_on: [boss]
        workflows:
          - id: team
            agents: [boss, boss2, hand]
            entry_point: hand
        """
    )
    assert "two coordinators" in at(issues, "workflows[team].agents[1]").message
    assert "is not the coordinator 'boss'" in at(issues, "workflows[team].entry_point").message
    worker = at(issues, "agents[hand].depends_on")
    assert "run when its coordinator hands them a subtask" in worker.message and worker.line == 8


def test_worker_without_coordinator_and_coordinator_keys_without_one_are_warned_about() -> None:
    loaded = load(
        """\
        agents:
          - id: a
          - id: hand
            role: worker
            depends_on: [a]
        workflows:
          - id: w
            agents: [a, hand]
            max_parallel: 2
            planner_state: {x: 1}
        """
    )
    assert [(w.path, w.line) for w in loaded.warnings] == [
        ("agents[hand].role", 4),
        ("workflows[w].max_parallel", 9),
        ("workflows[w].planner_state", 10),
    ]
    assert all("has no effect" in w.message for w in loaded.warnings)


def write_team(tmp_path: Path, methods: str) -> Path:
    (tmp_path / "methods.yaml").write_text(methods)
    config = tmp_path / "axocoatl.yaml"
    config.write_text(TEAM + "    htn_methods_file: methods.yaml\n    goal_task: report\n")
    return config


def test_the_methods_file_is_read_relative_to_the_config_and_anchored(tmp_path: Path) -> None:
    config = write_team(tmp_path, "- task_pattern: report\n  subtasks: [{name: a}]\n")
    loaded = load_config(config)
    assert loaded.warnings == []
    assert loaded.config.workflows[0].htn_methods_file == str(tmp_path / "methods.yaml")


def test_methods_file_errors_name_its_file_and_line(tmp_path: Path) -> None:
    config = write_team(
        tmp_path,
        "- task_pattern: report\n  subtasks:\n    - {name: a, task_type: Atomic}\n"
        "- task_pattern: other\n  preconditions: [{key: k, op: near, expected: 1}]\n  subtasks: [{name: b}]\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    issues = caught.value.issues
    assert [(Path(i.file or "").name, i.line) for i in issues] == [("methods.yaml", 3), ("methods.yaml", 5)]
    assert "unknown task_type 'Atomic'" in issues[0].message and "Primitive or Compound" in (issues[0].hint or "")
    assert "unknown operator 'near'" in issues[1].message
    assert "methods.yaml:3" in str(caught.value)


def test_a_missing_methods_file_is_an_error_at_the_key(tmp_path: Path) -> None:
    config = tmp_path / "axocoatl.yaml"
    config.write_text(TEAM + "    htn_methods_file: nope.yaml\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    [issue] = caught.value.issues
    assert issue.path == "workflows[team].htn_methods_file" and issue.line == 11
    assert "cannot read the HTN methods file 'nope.yaml'" in issue.message


def test_goal_task_without_methods_is_warned_about() -> None:
    loaded = load(TEAM + "    goal_task: report\n")
    [warning] = loaded.warnings
    assert warning.path == "workflows[team].goal_task" and "without htn_methods_file" in warning.message


def test_unknown_tools_in_methods_are_warned_about_at_their_line(tmp_path: Path) -> None:
    config = write_team(
        tmp_path, "- task_pattern: report\n  subtasks:\n    - {name: a, parameters: {tools: [web_serch]}}\n"
    )
    [warning] = load_config(config).warnings
    assert (Path(warning.file or "").name, warning.line) == ("methods.yaml", 1)
    assert "unknown tool 'web_serch'" in warning.message and warning.hint == "did you mean 'web_search'?"
