"""Nodes on one PostgreSQL database and a 3-server NATS cluster: a WebSocket on one node streams the runs
another node executes (events fan out on NATS subjects, none echoed back), `/health/ready` and
`cluster status` reflect NATS going away and coming back, node ids are unique."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from tests.conftest import run_cli
from tests.nats_cluster import NatsCluster
from tests.pg import free_port
from tests.server.support import Daemon, recv_until, stop_nodes

from axocoatl.config.schema import ClusterConfig
from axocoatl.runtime.cluster import NatsConnection, WorkQueue

pytestmark = pytest.mark.slow

CONFIG = """
agents:
  - id: fetch
    provider: mock
    options: {latency_ms: 300}
  - id: digest
    provider: mock
    depends_on: [fetch]
    options: {latency_ms: 300}
workflows:
  - id: pipeline
    agents: [fetch, digest]
store:
  backend: postgres
  dsn: ${AXOCOATL_DSN}
"""


def project(tmp_path: Path, name: str, urls: list[str], stream: str = "AXOCOATL") -> Path:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "axocoatl.yaml").write_text(CONFIG + f"cluster:\n  nats: {json.dumps(urls)}\n  stream: {stream}\n")
    return directory


def node(tmp_path: Path, name: str, dsn: str, urls: list[str]) -> Daemon:
    return Daemon(project(tmp_path, name, urls), env={"AXOCOATL_DSN": dsn}, args=("--node-id", name))


def subscribe_all(ws: Any) -> None:
    recv_until(ws, "ready")
    ws.send(json.dumps({"cmd": "subscribe", "runs": "*"}))
    recv_until(ws, "subscribed")
    recv_until(ws, "snapshot")


def test_a_websocket_on_one_node_streams_a_run_another_node_executes(
    tmp_path: Path, postgres_dsn: str, nats_cluster: NatsCluster
) -> None:
    a = node(tmp_path, "alpha", postgres_dsn, nats_cluster.urls).start()
    b = node(tmp_path, "beta", postgres_dsn, nats_cluster.urls).start()
    try:
        with b.ws() as ws_b, a.ws() as ws_a:
            subscribe_all(ws_b)
            subscribe_all(ws_a)
            with a.client() as client:
                run_id = client.post("/api/workflows/pipeline/execute", json={"input": "fan out"}).json()["run_id"]
            _, on_b = recv_until(ws_b, "run-status", timeout=60, run_id=run_id, status="completed")
            _, on_a = recv_until(ws_a, "run-status", timeout=60, run_id=run_id, status="completed")
        with psycopg.connect(postgres_dsn) as conn:
            owner = conn.execute("SELECT owner FROM runs WHERE run_id = %s", (run_id,)).fetchone()
        assert owner is not None and a.proc is not None and f":{a.proc.pid}:" in owner[0]  # node A ran it
        expected = [("fetch", "running"), ("fetch", "completed"), ("digest", "running"), ("digest", "completed")]
        for frames in (on_b, on_a):  # each exactly once on either node: nothing echoed back over NATS
            steps = [(f["agent_id"], f["status"]) for f in frames if f["kind"] == "step-status"]
            assert steps == expected, frames
            completed = [f for f in frames if f["kind"] == "event" and f.get("type") == "TaskCompleted"]
            assert [f["agent_id"] for f in completed] == ["fetch", "digest"], frames
            # The turn streamed on whichever node took the step, and its tokens reached both, once.
            tokens = "".join(f["delta"] for f in frames if f["kind"] == "token" and f["agent_id"] == "fetch")
            assert tokens == "[fetch] fan out"
    finally:
        stop_nodes([a, b])


def test_node_ids_are_unique_among_live_nodes(tmp_path: Path, postgres_dsn: str, nats_cluster: NatsCluster) -> None:
    a = node(tmp_path, "alpha", postgres_dsn, nats_cluster.urls).start()
    try:
        directory = project(tmp_path, "again", nats_cluster.urls)
        twin = subprocess.run(
            [sys.executable, "-m", "axocoatl", "--data-dir", "data", "serve", "--port", "0", "--node-id", "alpha"],
            cwd=directory,
            env={**os.environ, "AXOCOATL_DSN": postgres_dsn, "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert twin.returncode == 2, twin.stderr
        assert "node id 'alpha' is in use by a live node" in twin.stderr and "--node-id" in twin.stderr
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:  # alpha holds one step; another committed
            for step, result in (("fetch", None), ("digest", "{}")):
                conn.execute(
                    "INSERT INTO step_claims (run_id, step, node, token, claimed_at, result) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    ("run-x", step, "alpha", step, time.time(), result),
                )
        found = json.loads(run_cli("cluster", "status", "--json", cwd=a.directory, env=a.env).stdout)
        # The twin left no row; alpha's open claim is its one step.
        assert [(n["node_id"], n["state"], n["steps"]) for n in found["nodes"]] == [("alpha", "live", 1)]
    finally:
        stop_nodes([a])


async def fill_stream(urls: list[str], stream: str, items: int) -> None:
    settings = ClusterConfig(nats=urls, stream=stream)
    connection = NatsConnection(settings, name="test")
    await connection.connect()
    try:
        queue = WorkQueue(connection, settings)
        await queue.ensure()
        for i in range(items):
            await queue.publish("step", f"run-{i}", {"n": i}, dedup_id=f"item-{i}")
    finally:
        await connection.close()


def wait_ready_status(client: httpx.Client, code: int, timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/health/ready")
        if response.status_code == code or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


def test_ready_and_cluster_status_follow_nats_down_and_back(
    tmp_path: Path, postgres_dsn: str, nats_cluster: NatsCluster
) -> None:
    a = node(tmp_path, "alpha", postgres_dsn, nats_cluster.urls).start()
    try:
        # Items on a stream no node takes from (a project of its own on the same NATS and database), so
        # they stay where status can count them.
        asyncio.run(fill_stream(nats_cluster.urls, "PARKED", 2))
        watcher = project(tmp_path, "watcher", nats_cluster.urls, stream="PARKED")
        status = run_cli("cluster", "status", "--json", cwd=watcher, env=a.env)
        assert status.returncode == 0, status.stderr
        found = json.loads(status.stdout)
        assert [(n["node_id"], n["state"]) for n in found["nodes"]] == [("alpha", "live")]
        nats = found["nats"]
        assert nats["error"] is None and nats["url"] in nats_cluster.urls
        stream = nats["stream"]
        assert (stream["stream"], stream["depth"], stream["replicas"]) == ("PARKED", 2, 3)
        assert stream["leader"] and len(stream["peers"]) == 2 and stream["pending"]["step"] == 2
        assert all(p["current"] and not p["offline"] for p in stream["peers"])
        human = run_cli("cluster", "status", cwd=watcher, env=a.env).stdout
        assert "work stream PARKED: 2 item(s), R3" in human and "step: 2 waiting, 0 claimed" in human

        with a.client() as client:
            assert client.get("/health/ready").json() == {"status": "ready", "agents": 2}
            for i in range(3):
                nats_cluster.kill(i)
            down = wait_ready_status(client, 503, 20)
            assert down.status_code == 503, down.text
            assert "NATS" in down.json()["error"] and nats_cluster.urls[0] in down.json()["hint"]
            assert client.get("/health/live").status_code == 200  # alive, only not ready

            outage = run_cli("cluster", "status", cwd=a.directory, env=a.env)
            assert outage.returncode == 1
            assert "alpha" in outage.stdout and "live" in outage.stdout  # the nodes still show, from the database
            assert "cannot connect to NATS" in outage.stderr and "hint" in outage.stderr

            for i in range(3):
                nats_cluster.restart(i)
            back = wait_ready_status(client, 200, 60)
            assert back.status_code == 200, back.text  # the node reconnected by itself
    finally:
        stop_nodes([a])


def test_a_node_that_cannot_reach_nats_does_not_start(tmp_path: Path, postgres_dsn: str) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    directory = project(tmp_path, "lonely", [url])
    done = subprocess.run(
        [sys.executable, "-m", "axocoatl", "--data-dir", "data", "serve", "--port", "0"],
        cwd=directory,
        env={**os.environ, "AXOCOATL_DSN": postgres_dsn, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert f"cannot connect to NATS at {url}" in done.stderr
    assert not (directory / "data" / "daemon.json").exists()
