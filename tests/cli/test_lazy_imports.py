"""A CLI run loads a protocol SDK only when the project configures that protocol (the SDKs cost a second to import)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SDKS = ("mcp", "mcp_types", "a2a")
# Runs the CLI in-process and, at exit, writes which of the SDKs got imported to the file in $LOADED_TO.
PROBE = f"""
import atexit, json, os, sys
atexit.register(lambda: open(os.environ["LOADED_TO"], "w").write(
    json.dumps([m for m in {SDKS!r} if m in sys.modules])))
sys.argv = ["axocoatl", *sys.argv[1:]]
from axocoatl.cli.main import main
main()
"""


def _sdks_loaded(cwd: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    out = cwd / "loaded.json"
    env = {**os.environ, "NO_COLOR": "1", "LOADED_TO": str(out)}
    env.pop("AXOCOATL_API_KEY", None)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    return result, json.loads(out.read_text())


def _project(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "axocoatl.yaml").write_text(
        "agents:\n  - id: a\n    provider: mock\n  - id: b\n    provider: mock\n    depends_on: [a]\n"
        "workflows:\n  - id: wf\n    agents: [a, b]\n" + extra
    )
    return tmp_path


def test_a_workflow_run_without_mcp_servers_or_a2a_agents_loads_neither_sdk(tmp_path: Path) -> None:
    result, loaded = _sdks_loaded(_project(tmp_path), "workflow", "run", "wf", "-i", "x", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "completed"
    assert loaded == []


def test_a_configured_mcp_server_loads_the_mcp_sdk_and_the_run_still_completes(tmp_path: Path) -> None:
    # A server whose command does not exist: the connection is attempted (so the SDK is loaded) and fails alone.
    extra = "mcp_servers:\n  - name: gone\n    command: axocoatl-no-such-mcp-server\n    startup_timeout_secs: 5\n"
    result, loaded = _sdks_loaded(_project(tmp_path, extra), "workflow", "run", "wf", "-i", "x", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "completed"
    assert "mcp" in loaded and "a2a" not in loaded
