"""Docs stay current: the generated config reference matches the schema; README commands exist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from axocoatl.cli.main import app

REPO = Path(__file__).resolve().parent.parent


def test_config_reference_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_config_docs.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_config_reference_has_no_empty_cell() -> None:
    # The generator refuses a key without a description too; this catches a hand edit of the tables.
    text = (REPO / "docs" / "configuration.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) > 100, "the generated reference tables are missing"
    empty = [row for row in rows if any(not cell.strip() for cell in row.strip().strip("|").split(" | "))]
    assert not empty, "empty cells in docs/configuration.md:\n" + "\n".join(empty)


def test_cli_reference_is_current_and_every_option_has_help() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_cli_docs.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_readme_quickstart_is_the_first_hour_flow() -> None:
    readme = (REPO / "README.md").read_text()
    steps = [readme.find(f"axocoatl {step}") for step in ("onboard", "doctor", "dev", "chat")]
    assert -1 not in steps and steps == sorted(steps), steps
    for doc in ("docs/cli.md", "docs/ARCHITECTURE.md", "docs/TROUBLESHOOTING.md", "docs/CONCEPTS.md"):
        assert doc in readme and (REPO / doc).is_file()


def test_readme_quickstart_scripts_exist_and_ci_runs_the_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    assert "./scripts/quickstart.sh" in readme
    assert "./scripts/test.sh" in readme
    assert (REPO / "scripts" / "quickstart.sh").stat().st_mode & 0o111
    ci = (REPO / ".ci" / "run").read_text()
    assert "./scripts/test.sh" in ci


def test_every_cli_command_in_the_readme_exists() -> None:
    readme = (REPO / "README.md").read_text()
    runner = CliRunner()
    for line in readme.splitlines():
        if not line.startswith("| `axocoatl "):
            continue
        words = line.split("`")[1].split()[1:]
        command = [w for w in words[:2] if w.isalpha() and w.islower()]
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, f"README documents `axocoatl {' '.join(command)}`: {result.output}"
