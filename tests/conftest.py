"""Fixtures shared by every test package: configs in temp dirs, runtimes, the CLI in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests import seed
from tests.nats_cluster import NatsCluster
from tests.pg import PostgresCluster
from tests.server.support import Daemon, reap_daemons

from axocoatl.config.loader import parse_config_text
from axocoatl.config.schema import AxocoatlConfig
from axocoatl.runtime.runtime import Runtime

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _reap_daemons() -> Iterator[None]:
    """A daemon left running by a failed test dies with that test (daemons of wider fixtures live on)."""
    before = list(Daemon.started)
    yield
    reap_daemons(keep=before)


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
    """Run `python -m axocoatl ARGS` in a subprocess, the way a user would (without an API key from the
    shell the tests run in: ``env`` may give one)."""
    inherited = {k: v for k, v in os.environ.items() if k != "AXOCOATL_API_KEY"}
    full_env = {**inherited, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
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


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster for the session (fails, not skips, when PostgreSQL is missing)."""
    # Not under pytest's temp dir: as root, the cluster runs as the postgres user, who cannot enter it.
    root = Path(tempfile.mkdtemp(prefix="axocoatl-pg-"))
    cluster = PostgresCluster(root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_dsn(postgres_cluster: PostgresCluster) -> str:
    """A fresh empty database in the session's cluster."""
    return postgres_cluster.new_database()


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """A private 3-node NATS cluster with JetStream on loopback (fails, not skips, when nats-server is missing)."""
    cluster = NatsCluster(tmp_path / "nats")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def pytest_configure(config: pytest.Config) -> None:
    # A pytest-xdist worker takes its controller's seed (passed in pytest_configure_node below).
    worker_seed = getattr(config, "workerinput", {}).get(seed.ENV)
    if worker_seed is not None:
        os.environ[seed.ENV] = worker_seed
    seed.session_seed()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    node.workerinput[seed.ENV] = str(seed.session_seed())


def pytest_report_header(config: pytest.Config) -> str:
    return f"{seed.ENV}={seed.session_seed()} (set it to replay this session's random kill points)"
