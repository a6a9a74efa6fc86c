"""Three daemons on one PostgreSQL database sharing steps over a 3-node NATS JetStream cluster.

Runs are submitted to node 1 only; their steps travel as work items and run on every node (each
step's claim names the node that ran it). A worker node SIGKILLed mid-turn and a NATS server killed
lose no work: the dead node's items come back after the ack wait, the R3 stream keeps its items with
one server down, every run completes, and no step whose result committed runs again (one
TaskCompleted and one ledger row per step).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from tests.automations.receiver import Receiver
from tests.nats_cluster import NatsCluster
from tests.server.support import Daemon, stop_nodes
from tests.server.test_postgres_nodes import completions_of, ledger_rows, runs_of

from axocoatl.store import RunRecord

CONFIG = """
agents:
  - id: fetch
    provider: mock
    options: {latency_ms: 1500}
  - id: digest
    provider: mock
    depends_on: [fetch]
    options: {latency_ms: 1500}
  - id: ping
    provider: mock
workflows:
  - id: pipeline
    agents: [fetch, digest]
  - id: beat
    agents: [ping]
schedules:
  - id: tick
    workflow: beat
    input: scheduled work
    every: 2s
webhooks:
  - name: out
    url: ${HOOK_URL}
    events: [TaskCompleted]
store:
  backend: postgres
  dsn: ${AXOCOATL_DSN}
cluster:
  nats: ["${NATS_1}", "${NATS_2}", "${NATS_3}"]
  ack_wait_secs: 4
"""
RUNS = 12


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def cluster_node(tmp_path: Path, name: str, dsn: str, nats: NatsCluster, hook: str) -> Daemon:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "axocoatl.yaml").write_text(CONFIG)
    env = {"AXOCOATL_DSN": dsn, "HOOK_URL": hook, **{f"NATS_{i + 1}": url for i, url in enumerate(nats.urls)}}
    return Daemon(directory, env=env, args=("--node-id", name))


def claims(dsn: str) -> dict[tuple[str, str], str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT run_id, step, node FROM step_claims WHERE result IS NOT NULL")
        return {(str(r), str(s)): str(n) for r, s, n in rows}


def assert_each_slot_fired_once(dsn: str) -> int:
    """Each fired slot started exactly one run, and every scheduled run belongs to a fired slot."""
    with psycopg.connect(dsn) as conn:
        fired = [
            (float(slot), str(run_id))
            for slot, run_id in conn.execute(
                "SELECT slot, run_id FROM schedule_fires WHERE schedule_id = 'tick' AND outcome = 'started'"
            )
        ]
        scheduled = {str(r) for (r,) in conn.execute("SELECT run_id FROM runs WHERE trigger = 'schedule:tick'")}
    assert len({slot for slot, _ in fired}) == len(fired)
    assert sorted(run_id for _, run_id in fired) == sorted(scheduled)
    return len(fired)


def submit(daemon: Daemon, count: int) -> list[str]:
    with daemon.client() as client:
        return [
            client.post("/api/workflows/pipeline/execute", json={"input": f"job {i}"}).json()["run_id"]
            for i in range(count)
        ]


def wait_completed(dsn: str, run_ids: list[str], timeout: float = 180) -> dict[str, RunRecord]:
    deadline = time.monotonic() + timeout
    runs: dict[str, RunRecord] = {}
    while time.monotonic() < deadline:
        runs = {r.run_id: r for r in asyncio.run(runs_of(dsn))}
        if all(runs.get(r) is not None and runs[r].status in ("completed", "failed") for r in run_ids):
            break
        time.sleep(1.0)
    return runs


def assert_each_step_once(dsn: str, run_ids: list[str]) -> None:
    steps = [(r, a) for r in run_ids for a in ("fetch", "digest")]
    completions = asyncio.run(completions_of(dsn))
    assert {k: completions[k] for k in steps} == dict.fromkeys(steps, 1)
    assert {k: n for k, n in ledger_rows(dsn).items() if k in set(steps)} == dict.fromkeys(steps, 1)


@pytest.mark.slow
def test_runs_submitted_to_one_node_run_their_steps_on_every_node(
    tmp_path: Path, postgres_dsn: str, nats_cluster: NatsCluster, receiver: Receiver
) -> None:
    nodes = [cluster_node(tmp_path, f"node{i}", postgres_dsn, nats_cluster, receiver.url) for i in range(1, 4)]
    for n in nodes:
        n.start()
    try:
        check_every_node(postgres_dsn, nodes, receiver)
    finally:
        stop_nodes(nodes)


def check_every_node(dsn: str, nodes: list[Daemon], receiver: Receiver) -> None:
    run_ids = submit(nodes[0], RUNS)
    runs = wait_completed(dsn, run_ids)
    log = "\n".join(n.log()[-3000:] for n in nodes)
    assert sorted((r, runs[r].status) for r in run_ids) == sorted((r, "completed") for r in run_ids), log
    assert {runs[r].owner for r in run_ids} == {runs[run_ids[0]].owner}  # one driver: node 1
    ran_on = Counter(node for (run_id, _), node in claims(dsn).items() if run_id in set(run_ids))
    assert sum(ran_on.values()) == 2 * RUNS
    assert len(ran_on) > 1, ran_on  # the steps ran on more than one node
    assert_each_step_once(dsn, run_ids)
    attempts = {(r.run_id, s.agent_id): s.attempts for r in runs.values() for s in r.steps}
    assert set(attempts.values()) == {1}
    assert assert_each_slot_fired_once(dsn) > 0
    # Every TaskCompleted of the submitted runs reaches the webhook, each delivery once, sent by several nodes.
    steps = {(r, a) for r in run_ids for a in ("fetch", "digest")}
    receiver.wait_for(lambda got: {(r.json["run_id"], r.json["agent_id"]) for r in got} >= steps, "every delivery")
    assert set(Counter(r.headers["x-axocoatl-delivery"] for r in receiver.received).values()) == {1}
    assert len([n for n in nodes if "delivered" in n.log()]) > 1


@pytest.mark.slow
def test_a_worker_node_and_a_nats_server_killed_mid_run_lose_nothing(
    tmp_path: Path, postgres_dsn: str, nats_cluster: NatsCluster, receiver: Receiver
) -> None:
    nodes = [cluster_node(tmp_path, f"node{i}", postgres_dsn, nats_cluster, receiver.url) for i in range(1, 4)]
    for n in nodes:
        n.start()
    try:
        run_ids = submit(nodes[0], RUNS)
        time.sleep(2.0)  # turns are in flight on every node
        assert nodes[1].proc is not None
        os.kill(nodes[1].proc.pid, signal.SIGKILL)
        nodes[1].proc.wait()
        nats_cluster.kill(2)
        runs = wait_completed(postgres_dsn, run_ids)
        log = "\n".join(n.log()[-3000:] for n in (nodes[0], nodes[2]))
        assert sorted((r, runs[r].status) for r in run_ids) == sorted((r, "completed") for r in run_ids), log
        assert_each_step_once(postgres_dsn, run_ids)
        ran_on = Counter(claims(postgres_dsn).values())
        assert {"node1", "node3"} <= set(ran_on), ran_on
        assert assert_each_slot_fired_once(postgres_dsn) > 0
    finally:
        stop_nodes(nodes)


@pytest.mark.slow
def test_the_driving_node_killed_mid_run_is_adopted_without_running_a_claimed_step_twice(
    tmp_path: Path, postgres_dsn: str, nats_cluster: NatsCluster, receiver: Receiver
) -> None:
    nodes = [cluster_node(tmp_path, f"node{i}", postgres_dsn, nats_cluster, receiver.url) for i in range(1, 4)]
    for n in nodes:
        n.start()
    try:
        run_ids = submit(nodes[0], RUNS)
        time.sleep(2.0)  # steps are in flight on every node, some for runs whose driver dies now
        assert nodes[0].proc is not None
        os.kill(nodes[0].proc.pid, signal.SIGKILL)
        nodes[0].proc.wait()
        runs = wait_completed(postgres_dsn, run_ids)
        log = "\n".join(n.log()[-3000:] for n in nodes[1:])
        assert sorted((r, runs[r].status) for r in run_ids) == sorted((r, "completed") for r in run_ids), log
        assert any("adopting run" in n.log() for n in nodes[1:]), log
        assert_each_step_once(postgres_dsn, run_ids)
        assert assert_each_slot_fired_once(postgres_dsn) > 0
    finally:
        stop_nodes(nodes)
