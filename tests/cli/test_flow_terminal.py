"""`workflow run` on a terminal asks an interrupt's question and goes on with the answer typed there."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.cli.support import REVIEW
from tests.cli.terminal import Terminal
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def test_workflow_run_asks_on_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "axocoatl.yaml").write_text(REVIEW)
    env = {
        "AXOCOATL_EMBEDDER": "hashed",
        "NO_COLOR": "1",
        "COLUMNS": "120",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    term = Terminal(tmp_path, "--data-dir", "data", "workflow", "run", "pipe", "-i", "tea", env=env)
    term.read_until(b"Publish this draft?")
    term.read_until(b"answer (empty: leave the run waiting)>")
    assert "draft about tea" in term.text  # the output under review is shown with the question
    term.write(b"yes, ship it\r")
    term.read_until(b"completed")
    assert term.close() == 0
    listed = run_cli("--data-dir", "data", "runs", "list", "--json", cwd=tmp_path)
    run_id = json.loads(listed.stdout)[0]["run_id"]
    shown = json.loads(run_cli("--data-dir", "data", "runs", "show", run_id, "--json", cwd=tmp_path).stdout)
    assert shown["status"] == "completed"
    assert shown["steps"][1]["answer"] == "yes, ship it"
