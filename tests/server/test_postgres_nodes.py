"""Several daemons (nodes) on one PostgreSQL database: a node SIGKILLed mid-run loses no work.

Runs are submitted to node 1, which is killed while steps are in flight; the other nodes adopt
its runs (its heartbeat stops, a claim is a compare-and-set) and finish them. Every run
completes, and no step whose result committed runs again: each (run, agent) has exactly one
TaskCompleted event and one ledger row (a killed call's spend never committed).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from tests.pg import PostgresCluster
from tests.server.support import Daemon, stop_nodes

from axocoatl.core import events as ev
from axocoatl.store import RunRecord
from axocoatl.store.postgres import PostgresStore

CONFIG = """
agents:
  - id: fetch
    provider: mock
    options: {latency_ms: 1500}
  - id: digest
    provider: mock
    depends_on: [fetch]
    options: {latency_ms: 1500}
workflows:
  - id: pipeline
    agents: [fetch, digest]
store:
  backend: postgres
  dsn: ${AXOCOATL_DSN}
"""
RUNS = 12


def node(tmp_path: Path, name: str, dsn: str) -> Daemon:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "axocoatl.yaml").write_text(CONFIG)
    return Daemon(directory, env={"AXOCOATL_DSN": dsn})


async def runs_of(dsn: str) -> list[RunRecord]:
    store = PostgresStore(dsn)
    await store.open()
    try:
        return await store.list_runs(limit=1000)
    finally:
        await store.close()


async def completions_of(dsn: str) -> Counter[tuple[str, str]]:
    store = PostgresStore(dsn)
    await store.open()
    try:
        events = await store.recent_events(limit=10_000)
    finally:
        await store.close()
    return Counter((e.run_id or "", e.agent_id or "") for e in events if e.type == ev.TASK_COMPLETED)


def ledger_rows(dsn: str) -> Counter[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT run_id, agent_id, COUNT(*) FROM token_ledger GROUP BY run_id, agent_id")
        return Counter({(str(r), str(a)): int(n) for r, a, n in rows})


@pytest.mark.slow
def test_a_node_killed_mid_run_loses_no_run_and_repeats_no_committed_step(tmp_path: Path, postgres_dsn: str) -> None:
    nodes = [node(tmp_path, f"node{i}", postgres_dsn) for i in range(1, 4)]
    for n in nodes:
        n.start()
    try:
        with nodes[0].client() as client:
            run_ids = [
                client.post("/api/workflows/pipeline/execute", json={"input": f"job {i}"}).json()["run_id"]
                for i in range(RUNS)
            ]
        time.sleep(2.0)  # node 1 is inside its runs: `fetch` steps committed, `digest` steps in flight
        before = {(r.run_id, s.agent_id) for r in asyncio.run(runs_of(postgres_dsn)) for s in r.steps}
        done_before = {
            (r.run_id, s.agent_id)
            for r in asyncio.run(runs_of(postgres_dsn))
            for s in r.steps
            if s.status == "completed"
        }
        assert nodes[0].proc is not None
        os.kill(nodes[0].proc.pid, signal.SIGKILL)
        nodes[0].proc.wait()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all(r.status == "completed" for r in asyncio.run(runs_of(postgres_dsn))):
                break
            time.sleep(1.0)
        runs = {r.run_id: r for r in asyncio.run(runs_of(postgres_dsn))}
        log = "\n".join(n.log()[-3000:] for n in nodes[1:])
        assert sorted((r.run_id, r.status) for r in runs.values()) == sorted((r, "completed") for r in run_ids), log
        steps = [(r, a) for r in run_ids for a in ("fetch", "digest")]
        assert len(before) == len(steps) and done_before  # the kill came after some steps committed
        completions = asyncio.run(completions_of(postgres_dsn))
        assert {k: completions[k] for k in steps} == dict.fromkeys(steps, 1)
        assert {k: n for k, n in ledger_rows(postgres_dsn).items() if k in set(steps)} == dict.fromkeys(steps, 1)
        attempts = {(r.run_id, s.agent_id): s.attempts for r in runs.values() for s in r.steps}
        assert {k: attempts[k] for k in done_before} == dict.fromkeys(done_before, 1)  # committed: never again
        assert any(attempts[k] == 2 for k in steps)  # the in-flight steps ran again on the adopting nodes
        assert "adopting run" in log
    finally:
        stop_nodes(nodes)


def submit(daemon: Daemon, count: int, tag: str) -> list[str]:
    with daemon.client() as client:
        return [
            client.post("/api/workflows/pipeline/execute", json={"input": f"{tag} {i}"}).json()["run_id"]
            for i in range(count)
        ]


def wait_all_completed(dsn: str, expected: int) -> dict[str, RunRecord]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        runs = {r.run_id: r for r in asyncio.run(runs_of(dsn))}
        if len(runs) >= expected and all(r.status == "completed" for r in runs.values()):
            break
        time.sleep(1.0)
    return runs


@pytest.mark.slow
def test_a_killed_node_restarted_at_once_races_the_adopters_and_every_run_still_completes_once(
    tmp_path: Path, postgres_dsn: str
) -> None:
    nodes = [node(tmp_path, f"node{i}", postgres_dsn) for i in range(1, 4)]
    for n in nodes:
        n.start()
    try:
        run_ids = [r for n in nodes for r in submit(n, 4, n.directory.name)]
        time.sleep(2.0)
        victim = nodes[1]
        assert victim.proc is not None
        os.kill(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait()
        victim.start()  # back at once: its start resumes its runs while the others adopt them
        run_ids += [r for n in nodes for r in submit(n, 4, f"after {n.directory.name}")]
        runs = wait_all_completed(postgres_dsn, len(run_ids))
        log = "\n".join(n.log()[-3000:] for n in nodes)
        assert sorted((r.run_id, r.status) for r in runs.values()) == sorted((r, "completed") for r in run_ids), log
        steps = [(r, a) for r in run_ids for a in ("fetch", "digest")]
        completions = asyncio.run(completions_of(postgres_dsn))
        assert {k: completions[k] for k in steps} == dict.fromkeys(steps, 1)
        assert {k: n for k, n in ledger_rows(postgres_dsn).items() if k in set(steps)} == dict.fromkeys(steps, 1)
    finally:
        stop_nodes(nodes)


@pytest.mark.slow
def test_ready_reflects_the_nodes_database(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    dsn = postgres_cluster.new_database()
    daemon = node(tmp_path, "node", dsn).start()
    try:
        with daemon.client() as client:
            assert client.get("/health/ready").json() == {"status": "ready", "agents": 2}
            database = dsn.rsplit("/", 1)[1]
            with psycopg.connect(postgres_cluster.dsn(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')  # the node's connections die with it
            response = client.get("/health/ready")
            assert response.status_code == 503
            body = response.json()
            assert "database" in body["error"] and body["hint"]
            assert client.get("/health/live").status_code == 200  # alive, only not ready
    finally:
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.proc.wait(timeout=30)
