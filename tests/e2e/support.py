"""Running the CLI as a user does, in subprocesses, on a project directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from axocoatl.cli.main import app

TASK = "Explain write-ahead logging"
# The hashing embedder: the semantic memory is not under test here, and loading MiniLM costs
# about a second in every subprocess.
ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "AXOCOATL_EMBEDDER": "hashed"}


def run_cli(
    *args: str, cwd: Path, timeout: float = 60, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m axocoatl ARGS`, the way a user runs it."""
    command = [sys.executable, "-m", "axocoatl", *args]
    return subprocess.run(
        command, cwd=cwd, env=env or ENV, capture_output=True, text=True, timeout=timeout, input=stdin
    )


class Project:
    def __init__(self, root: Path, config: str) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "axocoatl.yaml"
        self.config.write_text(config)
        self.data = root / "data"
        self.runner = CliRunner()

    def args(self, *rest: str) -> list[str]:
        return ["--config", str(self.config), "--data-dir", str(self.data), *rest]

    def cli(self, *rest: str, timeout: float = 60, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*self.args(*rest), cwd=self.root, timeout=timeout, stdin=stdin)

    def start(self, *command: str) -> subprocess.Popen[str]:
        command = command or ("workflow", "run", "pipeline", "-i", TASK, "--json")
        return subprocess.Popen(
            [sys.executable, "-m", "axocoatl", *self.args(*command)],
            cwd=self.root,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def peek(self, *rest: str) -> Any:
        """`runs list|show --json` in-process: fast enough to poll between steps."""
        if not self.data.exists():
            return None
        result = self.runner.invoke(app, self.args(*rest))
        if result.exit_code != 0:
            return None
        return json.loads(result.stdout)

    def wait_for(self, proc: subprocess.Popen[str], ready: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            value = ready()
            if value:
                return value
            if proc.poll() is not None:
                raise AssertionError(f"the run ended before {what}: {proc.communicate()}")
            time.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")
