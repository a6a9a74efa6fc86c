"""The daemon's life: daemon.json, one daemon per data dir, graceful shutdown, config reload."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.server.support import MOCK_CONFIG, Daemon, running_daemon, wait_run, write_project
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

SLOW = """
agents:
  - id: slow
    provider: mock
    options: {latency_ms: 1500}
  - id: after
    provider: mock
    depends_on: [slow]
    options: {latency_ms: 1500}
workflows:
  - id: long
    agents: [slow, after]
"""


def test_daemon_json_written_then_removed_on_sigterm(tmp_path: Path) -> None:
    write_project(tmp_path)
    daemon = Daemon(tmp_path).start()
    info = json.loads((tmp_path / "data" / "daemon.json").read_text())
    assert info["pid"] == daemon.proc.pid and info["host"] == "127.0.0.1" and info["port"] > 0
    assert info["url"] == daemon.url and info["mode"] == "serve"
    assert daemon.stop(signal.SIGTERM) == 0
    assert not (tmp_path / "data" / "daemon.json").exists()
    assert "stopped" in daemon.log()


def test_sigint_is_graceful_too(tmp_path: Path) -> None:
    write_project(tmp_path)
    daemon = Daemon(tmp_path).start()
    assert daemon.stop(signal.SIGINT) == 0
    assert not (tmp_path / "data" / "daemon.json").exists()


def test_one_daemon_per_data_dir_and_stale_files_are_ignored(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as first:
        second = Daemon(tmp_path)
        second.start(wait=False)
        assert second.proc.wait(60) == 2
        assert "a daemon is already running" in second.log()
        assert str(first.proc.pid) in second.log()
    # A daemon.json whose process is gone (kill -9) does not block the next start.
    crashed = Daemon(tmp_path).start()
    crashed.kill()
    assert (tmp_path / "data" / "daemon.json").exists()
    Daemon(tmp_path).start().stop()


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with running_daemon(tmp_path / "one") as first:
        port = first.url.rsplit(":", 1)[1]
        write_project(tmp_path / "two")
        result = subprocess.run(
            [sys.executable, "-m", "axocoatl", "--data-dir", "data", "serve", "--port", port],
            cwd=tmp_path / "two",
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "--port" in result.stderr


def test_shutdown_lets_in_flight_runs_finish_within_the_grace_period(tmp_path: Path) -> None:
    write_project(tmp_path, SLOW)
    daemon = Daemon(tmp_path, args=("--grace", "20")).start()
    with daemon.client() as client:
        run_id = client.post("/api/workflows/long/execute", json={"input": "x"}).json()["run_id"]
    time.sleep(0.3)
    assert daemon.stop(signal.SIGTERM, timeout=40) == 0
    assert "giving 1 run(s) up to 20 s to finish" in daemon.log()
    restarted = Daemon(tmp_path).start()
    with restarted.client() as client:
        run = client.get(f"/api/runs/{run_id}").json()
    restarted.stop()
    assert run["status"] == "completed"
    assert [s["attempts"] for s in run["steps"]] == [1, 1]


def test_shutdown_after_the_grace_period_leaves_the_run_resumable(tmp_path: Path) -> None:
    write_project(tmp_path, SLOW)
    daemon = Daemon(tmp_path, args=("--grace", "0.5")).start()
    with daemon.client() as client:
        run_id = client.post("/api/workflows/long/execute", json={"input": "x"}).json()["run_id"]
        wait_for(lambda: client.get(f"/api/runs/{run_id}").json()["steps"][0]["status"] == "running", "step 1")
    assert daemon.stop(signal.SIGTERM, timeout=30) == 0
    assert "left 1 run(s) to resume at the next start" in daemon.log()
    restarted = Daemon(tmp_path).start()
    with restarted.client() as client:
        run = wait_run(client, run_id)
    restarted.stop()
    assert run["status"] == "completed"
    assert run["steps"][0]["attempts"] == 2  # the step cut short ran again; nothing else did
    assert run["steps"][1]["attempts"] == 1


def test_requests_during_shutdown_are_refused_cleanly(tmp_path: Path) -> None:
    write_project(tmp_path, SLOW)
    daemon = Daemon(tmp_path, args=("--grace", "20")).start()
    with daemon.client() as client:
        client.post("/api/workflows/long/execute", json={"input": "x"})
        time.sleep(0.2)
        daemon.proc.send_signal(signal.SIGTERM)
        try:
            # The run in flight holds the daemon in its grace period: it says so on /health.
            wait_for(lambda: client.get("/health").json()["status"] == "draining", "the daemon to drain")
            response = client.post("/api/workflows/long/execute", json={"input": "y"})
        except httpx.TransportError:  # the listening socket may already be closed: also fine
            response = None
    if response is not None:
        assert response.status_code == 503
        assert response.json()["error"] == "the daemon is shutting down"
    assert daemon.stop(timeout=40) == 0


RELOADED = MOCK_CONFIG.replace('reply: "Hello from {agent}: {input}"', 'reply: "Reloaded {agent}: {input}"')


def test_dev_reloads_the_config_and_survives_a_broken_edit(tmp_path: Path) -> None:
    write_project(tmp_path)
    daemon = Daemon(tmp_path, mode="dev").start()
    config = tmp_path / "axocoatl.yaml"

    def reply() -> str:
        with daemon.client() as client:
            return client.post("/api/agents/assistant/execute", json={"input": "x"}).json()["output"]

    def wait_for(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, daemon.log()
            time.sleep(0.2)

    assert reply() == "Hello from assistant: x"
    config.write_text(RELOADED)
    wait_for(lambda: reply() == "Reloaded assistant: x")
    assert "config reloaded" in daemon.log()

    # A broken edit: the precise error is logged and the previous config keeps running.
    config.write_text(RELOADED.replace("depends_on: [researcher]", "depends_on: [reseacher]"))
    wait_for(lambda: "config reload failed" in daemon.log())
    log = daemon.log()
    assert "still running the previous config" in log
    assert "axocoatl.yaml:" in log and "reseacher" in log
    assert reply() == "Reloaded assistant: x"

    # Adding an agent works without a restart.
    config.write_text(RELOADED.replace("workflows:", "  - id: newcomer\n    provider: mock\nworkflows:"))

    def has_newcomer() -> bool:
        with daemon.client() as client:
            return client.get("/api/agents/newcomer/status").status_code == 200

    wait_for(has_newcomer)
    assert daemon.proc.poll() is None
    assert daemon.stop() == 0
