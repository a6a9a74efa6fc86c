"""The shipped configs validate and run: every example as a dry run, the main job on the real local model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parent.parent
CONFIGS = [REPO / "axocoatl.example.yaml", *sorted((REPO / "examples").glob("*/axocoatl.yaml"))]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_example_has_a_readme_and_validates(config: Path, tmp_path: Path) -> None:
    if config.parent != REPO:
        assert (config.parent / "README.md").exists(), f"{config.parent.name} has no README"
    result = run_cli("--config", str(config), "validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_example_workflow_runs_as_a_dry_run(config: Path, tmp_path: Path) -> None:
    listed = run_cli("--config", str(config), "workflow", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    for workflow in json.loads(listed.stdout):
        result = run_cli(
            "--config", str(config), "--mock", "workflow", "run", workflow["id"], "-i", "a task", "--json", cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        run = json.loads(result.stdout)
        assert run["status"] == "completed"
        assert all(step["status"] == "completed" and step["attempts"] == 1 for step in run["steps"])


@pytest.mark.slow
def test_the_main_job_runs_on_the_embedded_model(tmp_path: Path) -> None:
    """The README's main job: two agents on the bundled SmolLM2 through llama.cpp, offline."""
    result = run_cli(
        "--config",
        str(REPO / "axocoatl.example.yaml"),
        "workflow",
        "run",
        "research",
        "-i",
        "What is a write-ahead log?",
        "--json",
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["status"] == "completed"
    assert run["final_output"].strip()
    researcher, summarizer = run["steps"]
    assert researcher["tokens"]["output"] > 0 and summarizer["tokens"]["output"] > 0
    assert researcher["output"] in summarizer["input"]  # the lattice passed the research on
