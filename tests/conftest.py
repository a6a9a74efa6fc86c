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


class RecordingProvider:
    """Wraps a provider (default: the mock): records every request and tracks concurrent calls.

    Inject it with ``Runtime(..., providers={"mock": RecordingProvider()})``.
    """

    name = "mock"

    def __init__(self, inner: object | None = None) -> None:
        from axocoatl.providers.mock import MockProvider

        self.inner = inner if inner is not None else MockProvider()
        self.requests: list[object] = []
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.total_in_flight = 0
        self.max_total_in_flight = 0

    def default_model(self) -> str:
        return self.inner.default_model()  # type: ignore[attr-defined,no-any-return]

    def capabilities(self, model: str) -> object:
        return self.inner.capabilities(model)  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        return None

    def calls(self, agent_id: str) -> int:
        """How many LLM calls ``agent_id`` made."""
        return sum(1 for r in self.requests if r.metadata.get("agent_id") == agent_id)  # type: ignore[attr-defined]

    def requests_of(self, agent_id: str) -> list[object]:
        return [r for r in self.requests if r.metadata.get("agent_id") == agent_id]  # type: ignore[attr-defined]

    async def stream(self, request: object) -> AsyncIterator[object]:
        agent = str(request.metadata.get("agent_id"))  # type: ignore[attr-defined]
        self.requests.append(request)
        self.in_flight[agent] = self.in_flight.get(agent, 0) + 1
        self.max_in_flight[agent] = max(self.max_in_flight.get(agent, 0), self.in_flight[agent])
        self.total_in_flight += 1
        self.max_total_in_flight = max(self.max_total_in_flight, self.total_in_flight)
        try:
            async for event in self.inner.stream(request):  # type: ignore[attr-defined]
                yield event
        finally:
            self.in_flight[agent] -= 1
            self.total_in_flight -= 1


@pytest.fixture
def recording() -> RecordingProvider:
    """A fresh RecordingProvider around the mock provider."""
    return RecordingProvider()


@pytest.fixture
def make_recording() -> Callable[..., RecordingProvider]:
    """The RecordingProvider class, to build several (one per runtime of a restart test)."""
    return RecordingProvider


@pytest.fixture
def axocoatl_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_cli`` as a fixture, for test packages that cannot import this module."""
    return run_cli
