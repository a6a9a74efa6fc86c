"""The CLI in-process, through Typer's runner, on one project directory and its data dir."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from axocoatl.cli.main import app


class Cli:
    """Runs the app in-process against one project directory and data dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "axocoatl.yaml"
        self.data = root / "data"
        self.runner = CliRunner()

    def write(self, text: str) -> Path:
        self.config.write_text(textwrap.dedent(text), encoding="utf-8")
        return self.config

    def __call__(self, *args: str, config: bool = True, input: bytes | str | None = None) -> Any:
        prefix = ["--config", str(self.config), "--data-dir", str(self.data)] if config else []
        return self.runner.invoke(app, [*prefix, *args], input=input, catch_exceptions=False)

    def json(self, *args: str, code: int = 0) -> Any:
        result = self(*args)
        assert result.exit_code == code, result.output
        return json.loads(result.stdout)


# A workflow whose middle step asks before it goes on (the interrupt tests, with and without a terminal).
REVIEW = """
agents:
  - id: writer
    provider: mock
    options: {reply: "draft about {input_head}"}
  - id: editor
    provider: mock
    depends_on: [writer]
    interrupt: {when: after, question: "Publish this draft?"}
  - id: publisher
    provider: mock
    depends_on: [editor]
workflows:
  - id: pipe
    agents: [writer, editor, publisher]
"""
