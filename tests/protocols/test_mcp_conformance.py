"""The official MCP conformance suite (@modelcontextprotocol/conformance, installed by scripts/install-mcp-peers.sh)
against our server (`mcp serve --conformance --http`, and the generic scenarios on the daemon's /mcp) and our
client (`mcp conformance-client`). Failures not in conformance-baseline.yml fail the test."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.protocols.support import REPO, free_port
from tests.server.support import running_daemon

pytestmark = pytest.mark.slow

TOOLS = REPO / "tools" / "mcp" / "node_modules"
BASELINE = Path(__file__).resolve().parent / "conformance-baseline.yml"
# sse-retry checks that the client reconnects within 200 ms of the server's retry hint: a timing check that
# fails on a loaded machine, so it is not run here (it passes run alone: see docs/mcp.md).
CLIENT_SCENARIOS = ["initialize", "tools_call", "elicitation-sep1034-client-defaults"]
CLIENT_SUITES = ["auth", "backcompat", "draft", "extensions"]
# The scenarios any server passes without the fixture tools: run against the agents' /mcp on the daemon.
GENERIC_SERVER_SCENARIOS = [
    "server-initialize",
    "ping",
    "tools-list",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
]


def _env() -> dict[str, str]:
    node = TOOLS / "node" / "bin"
    suite = TOOLS / ".bin" / "conformance"
    assert suite.exists() and (node / "node").exists(), (
        "the MCP conformance suite or Node 22 is not installed: run scripts/install-mcp-peers.sh"
    )
    pythonpath = os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PATH": f"{node}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": pythonpath}


def conformance(*args: str, output: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(TOOLS / ".bin" / "conformance"), *args, "--expected-failures", str(BASELINE), "-o", str(output)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result


@contextmanager
def fixture_server(log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "axocoatl", "mcp", "serve", "--conformance", "--http", f"127.0.0.1:{port}"],
            env=_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        import socket
        import time

        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the conformance server did not start listening"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_server_passes_the_suite(tmp_path: Path) -> None:
    with fixture_server(tmp_path / "server.log") as url:
        result = conformance("server", "--url", url, output=tmp_path / "results")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Total: " in result.stdout and " 0 failed" in result.stdout


def test_the_agents_endpoint_passes_the_generic_server_scenarios(tmp_path: Path) -> None:
    project = textwrap.dedent(
        """
        agents:
          - id: assistant
            provider: mock
        """
    )
    with running_daemon(tmp_path / "d", project) as daemon:
        for scenario in GENERIC_SERVER_SCENARIOS:
            result = conformance(
                "server", "--url", daemon.url + "/mcp", "--scenario", scenario, output=tmp_path / "results"
            )
            assert result.returncode == 0, f"{scenario}:\n{result.stdout[-4000:]}"


def test_the_client_passes_the_suite(tmp_path: Path) -> None:
    command = f"{sys.executable} -m axocoatl mcp conformance-client"
    for scenario in CLIENT_SCENARIOS:
        result = conformance("client", "--command", command, "--scenario", scenario, output=tmp_path / "results")
        assert result.returncode == 0, f"{scenario}:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"
    for suite in CLIENT_SUITES:
        result = conformance("client", "--command", command, "--suite", suite, output=tmp_path / "results")
        assert result.returncode == 0, f"suite {suite}:\n{result.stdout[-6000:]}{result.stderr[-2000:]}"
