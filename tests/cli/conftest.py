"""The ``cli`` fixture: the CLI in-process on a fresh project directory, with no config or data dir inherited."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import Cli


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("AXOCOATL_EMBEDDER", "hashed")
    monkeypatch.delenv("AXOCOATL_CONFIG", raising=False)
    monkeypatch.delenv("AXOCOATL_DATA_DIR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return Cli(tmp_path)
