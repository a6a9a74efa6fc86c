"""A daemon in a subprocess on 127.0.0.1 (port 0: the OS picks a free one), read back from daemon.json."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import httpx
from websockets.sync.client import ClientConnection, connect

MOCK_CONFIG = """
agents:
  - id: assistant
    provider: mock
    tools: [echo]
    options:
      reply: "Hello from {agent}: {input}"
  - id: tooler
    provider: mock
    tools: [echo]
    options:
      tool_calls: [{name: echo, arguments: {text: ping}}]
      reply: "tool said {tool_result}"
  - id: researcher
    provider: mock
    options: {latency_ms: 150}
  - id: summarizer
    provider: mock
    depends_on: [researcher]
    options: {latency_ms: 150}
  - id: broken
    provider: mock
    options: {fail: true}
workflows:
  - id: research
    agents: [researcher, summarizer]
  - id: fails
    agents: [broken]
"""


class Daemon:
    """`axocoatl serve` (or dev) in a subprocess."""

    started: ClassVar[list[subprocess.Popen[str]]] = []  # every daemon process, for reap_daemons()

    def __init__(
        self, directory: Path, *, mode: str = "serve", args: tuple[str, ...] = (), env: dict[str, str] | None = None
    ) -> None:
        self.directory = directory
        self.env = env or {}
        self.data_dir = directory / "data"
        self.mode = mode
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = directory / f"daemon-{time.monotonic_ns()}.log"
        self.url = ""

    def start(self, timeout: float = 30.0, *, wait: bool = True) -> Daemon:
        env = {**os.environ, "NO_COLOR": "1", "AXOCOATL_LOG": "info", **self.env}
        env.pop("AXOCOATL_API_KEY", None)
        with self.log_path.open("w") as log:  # the child keeps its own copy of the descriptor
            self.proc = self._popen(env, log)
        Daemon.started.append(self.proc)
        if wait:
            self.wait_ready(timeout)
        return self

    def _popen(self, env: dict[str, str], log: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "axocoatl",
                "--config",
                "axocoatl.yaml",
                "--data-dir",
                str(self.data_dir),
                self.mode,
                "--port",
                "0",
                *self.args,
            ],
            cwd=self.directory,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        info_path = self.data_dir / "daemon.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            try:
                info = json.loads(info_path.read_text())
            except (OSError, ValueError):
                info = None
            if info and info.get("pid") == self.proc.pid:
                self.url = info["url"]
                return
            time.sleep(0.05)
        raise AssertionError(f"daemon not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 30.0), **kwargs)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def ws(
        self, *, token: str | None = None, headers: dict[str, str] | None = None, host: str | None = None
    ) -> ClientConnection:
        """A WebSocket client; ``host`` sends that Host header (the TCP connection still goes to this daemon)."""
        query = f"?token={token}" if token else ""
        if host is None:
            url = self.url.replace("http://", "ws://") + "/ws" + query
            return connect(url, additional_headers=headers, open_timeout=10, max_size=None)
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return connect(f"ws://{host}/ws{query}", sock=sock, additional_headers=headers, open_timeout=10, max_size=None)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)


def reap_daemons(keep: Iterable[subprocess.Popen[str]]) -> None:
    """Kill the daemons a test left running (it failed before stopping them), except ``keep``:
    a leftover would otherwise outlive its test and fail a later one with a ResourceWarning."""
    kept = list(keep)
    for proc in [p for p in Daemon.started if all(p is not k for k in kept)]:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        Daemon.started.remove(proc)


def stop_nodes(nodes: Iterable[Daemon]) -> None:
    """SIGTERM every node still running at once (they drain in parallel), then wait; kill a node that hangs."""
    nodes = list(nodes)
    for n in nodes:
        if n.proc is not None and n.proc.poll() is None:
            n.proc.send_signal(signal.SIGTERM)
    for n in nodes:
        if n.proc is not None:
            try:
                n.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                n.proc.kill()


def write_project(directory: Path, yaml_text: str = MOCK_CONFIG) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "axocoatl.yaml").write_text(textwrap.dedent(yaml_text))
    return directory


@contextmanager
def running_daemon(directory: Path, yaml_text: str = MOCK_CONFIG, **kwargs: Any) -> Iterator[Daemon]:
    write_project(directory, yaml_text)
    daemon = Daemon(directory, **kwargs).start()
    try:
        yield daemon
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop()


def recv_until(
    ws: ClientConnection, kind: str, timeout: float = 15.0, **match: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Frames until one of ``kind`` (matching ``match``) arrives; returns it and everything before it."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {kind} frame {match} within {timeout} s; got {[f.get('kind') for f in seen]}")
        frame = json.loads(ws.recv(timeout=remaining))
        if frame.get("kind") == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame, seen
        seen.append(frame)


def wait_run(
    client: httpx.Client, run_id: str, timeout: float = 30.0, statuses: tuple[str, ...] = ("completed", "failed")
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/api/runs/{run_id}")
        if response.status_code == 200 and response.json()["status"] in statuses:
            return response.json()
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not reach {statuses}: {client.get(f'/api/runs/{run_id}').text}")


def serve_refusal(directory: Path, yaml_text: str, *args: str, env: dict[str, str] | None = None) -> str:
    """`axocoatl serve` on a config it must refuse: exit code 2, nothing listening; returns stderr."""
    write_project(directory, yaml_text)
    result = subprocess.run(
        [sys.executable, "-m", "axocoatl", "--data-dir", str(directory / "data"), "serve", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
    )
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert not (directory / "data" / "daemon.json").exists()
    return result.stderr


# Our A2A client's project against a remote agent at {url} (format it): the remote as a workflow step
# (``provider: a2a``) and as the tool ``a2a__peer`` of a mock agent.
A2A_CLIENT_PROJECT = """
a2a_agents:
  - name: peer
    url: {url}
agents:
  - id: remote_step
    provider: a2a
    model: peer
  - id: asker
    provider: mock
    tools: [a2a__peer]
    options:
      tool_calls: [{{name: a2a__peer, arguments: {{message: ping}}}}]
      reply: "asker got {{tool_result}}"
workflows:
  - id: delegate
    agents: [remote_step]
  - id: asking
    agents: [asker]
consolidation: {{enabled: false}}
"""


@contextmanager
def listening_peer(
    python: Path | str,
    script: Path,
    args: list[str],
    log_path: Path,
    what: str,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Iterator[str]:
    """A third-party peer server, ``python script PORT *args`` on a free loopback port, until it listens
    (its log is shown if it exits first); its URL is yielded, and it is stopped (killed if it hangs) after."""
    from tests.pg import free_port

    port = free_port()
    with log_path.open("w") as log:
        proc = subprocess.Popen([str(python), str(script), str(port), *args], stdout=log, stderr=log, env=env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, f"{what} exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"{what} did not listen on {port}:\n{log_path.read_text()}"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
