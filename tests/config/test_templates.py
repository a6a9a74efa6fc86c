"""``scaffold_project``: a new project that loads and validates cleanly, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from axocoatl.config import load_config, scaffold_project
from axocoatl.config.templates import SCAFFOLD_PROVIDERS
from axocoatl.core.errors import UsageError


@pytest.mark.parametrize("provider", ["local", "mock"])
def test_offline_project_loads_without_warnings(tmp_path: Path, provider: str) -> None:
    target = tmp_path / "demo"
    written = scaffold_project(target, "demo", provider=provider)
    assert sorted(p.name for p in written) == [".env.example", ".gitignore", "README.md", "axocoatl.yaml"]
    assert all(p.parent == target and p.is_file() for p in written)
    loaded = load_config(target / "axocoatl.yaml", env={})
    assert loaded.warnings == []
    config = loaded.config
    assert [(a.id, a.provider, a.depends_on) for a in config.agents] == [
        ("researcher", provider, []),
        ("summarizer", provider, ["researcher"]),
    ]
    [workflow] = config.workflows
    assert (workflow.id, workflow.agents) == ("research", ["researcher", "summarizer"])


@pytest.mark.parametrize("provider", ["local", "mock"])
def test_the_team_and_tools_templates_load_offline_without_warnings(tmp_path: Path, provider: str) -> None:
    team = scaffold_project(tmp_path / "team", "team", provider=provider, template="team")
    assert (tmp_path / "team" / "methods.yaml") in team
    config = load_config(tmp_path / "team" / "axocoatl.yaml", env={}).config
    roles = [(a.id, a.role) for a in config.agents]
    assert roles == [("lead", "coordinator"), ("researcher", "worker"), ("writer", "worker")]
    [workflow] = config.workflows
    assert (workflow.id, workflow.htn_methods_file, workflow.goal_task) == ("team", str(team[-1]), "answer")
    assert "axocoatl workflow run team" in (tmp_path / "team" / "README.md").read_text()

    scaffold_project(tmp_path / "tools", "tools", provider=provider, template="tools")
    loaded = load_config(tmp_path / "tools" / "axocoatl.yaml", env={})
    assert loaded.warnings == []
    [agent] = loaded.config.agents
    assert agent.tool_names[:3] == ["list_dir", "read_file", "grep"]
    assert agent.workspace == str(tmp_path / "tools" / "workspace")
    assert (tmp_path / "tools" / "workspace" / "notes.md").is_file()  # a workspace must exist


def test_config_is_commented_and_readme_has_next_steps(tmp_path: Path) -> None:
    scaffold_project(tmp_path / "p", "My Agents")
    text = (tmp_path / "p" / "axocoatl.yaml").read_text()
    assert text.startswith("# My Agents: an axocoatl project.")
    assert "# depends_on:" in text
    readme = (tmp_path / "p" / "README.md").read_text()
    assert readme.startswith("# My Agents\n")
    assert "axocoatl dev" in readme and "axocoatl workflow run research" in readme
    ignored = (tmp_path / "p" / ".gitignore").read_text().splitlines()
    assert ".axocoatl/" in ignored and ".env" in ignored


def test_mock_project_has_deterministic_replies(tmp_path: Path) -> None:
    scaffold_project(tmp_path / "p", "p", provider="mock")
    config = load_config(tmp_path / "p" / "axocoatl.yaml", env={}).config
    assert all(a.options.get("reply") for a in config.agents)


@pytest.mark.parametrize("provider", [p for p in SCAFFOLD_PROVIDERS if p not in ("local", "mock")])
def test_remote_projects_validate_and_ask_for_their_key(tmp_path: Path, provider: str) -> None:
    target = tmp_path / provider
    scaffold_project(target, "remote", provider=provider)
    loaded = load_config(target / "axocoatl.yaml", env={})
    assert {a.provider for a in loaded.config.agents} == {provider}
    example = (target / ".env.example").read_text()
    for warning in loaded.warnings:
        assert warning.severity == "warning"
        assert warning.message.split()[2] in example


def test_existing_empty_directory_is_fine(tmp_path: Path) -> None:
    scaffold_project(tmp_path, "here")
    assert (tmp_path / "axocoatl.yaml").is_file()


def test_non_empty_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(UsageError) as caught:
        scaffold_project(tmp_path, "x")
    assert "not empty" in caught.value.message
    assert not (tmp_path / "axocoatl.yaml").exists()


def test_file_as_target_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(UsageError):
        scaffold_project(target, "x")


def test_unknown_provider_and_empty_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        scaffold_project(tmp_path / "a", "x", provider="banana")
    assert caught.value.hint is not None and "local" in caught.value.hint
    with pytest.raises(UsageError):
        scaffold_project(tmp_path / "b", "  ")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
