"""Fixtures shared by every test package: configs in temp dirs, runtimes, the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from axocoatl.config.loader import parse_config_text
from axocoatl.config.schema import AxocoatlConfig
from axocoatl.runtime.runtime import Runtime

REPO = Path(__file__).resolve().parent.parent


def config_from_yaml(text: str) -> AxocoatlConfig:
    """A validated config from inline YAML (dedented)."""
    return parse_config_text(textwrap.dedent(text), file="test.yaml", env={}).config


@pytest.fixture
def make_runtime(tmp_path: Path) -> Callable[..., Runtime]:
    """Build (not start) a Runtime over a temp data dir; tests use it as `async with`."""

    def build(config: AxocoatlConfig | str, **kwargs: object) -> Runtime:
        if isinstance(config, str):
            config = config_from_yaml(config)
        return Runtime(config, data_dir=tmp_path / "data", **kwargs)  # type: ignore[arg-type]

    return build


@pytest.fixture
async def mock_runtime(make_runtime: Callable[..., Runtime]) -> AsyncIterator[Callable[[str], Runtime]]:
    yield make_runtime


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m axocoatl ARGS` in a subprocess, the way a user would."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "axocoatl", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


@pytest.fixture
def project(tmp_path: Path) -> Callable[[str], Path]:
    """Write an axocoatl.yaml (dedented) into a fresh directory and return the directory."""

    def write(yaml_text: str) -> Path:
        directory = tmp_path / "project"
        directory.mkdir(exist_ok=True)
        (directory / "axocoatl.yaml").write_text(textwrap.dedent(yaml_text))
        return directory

    return write
