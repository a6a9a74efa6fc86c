"""Operating nodes: `axocoatl cluster status` (nodes, heartbeats, claims), draining on SIGTERM, run id
prefixes on the shared database, and a run of a node on another host adopted once its heartbeat is stale."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import psycopg
import pytest
from tests.conftest import run_cli
from tests.server.support import Daemon, running_daemon, stop_nodes, wait_run

from axocoatl import __version__

pytestmark = pytest.mark.slow

SLOW_PIPELINE = """
agents:
  - id: fetch
    provider: mock
    options: {latency_ms: LATENCY}
  - id: digest
    provider: mock
    depends_on: [fetch]
    options: {latency_ms: LATENCY}
workflows:
  - id: pipeline
    agents: [fetch, digest]
"""
POSTGRES = """
store:
  backend: postgres
  dsn: ${AXOCOATL_DSN}
"""


def pg_node(tmp_path: Path, name: str, dsn: str, *, latency: int = 200, args: tuple[str, ...] = ()) -> Daemon:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "axocoatl.yaml").write_text(SLOW_PIPELINE.replace("LATENCY", str(latency)) + POSTGRES)
    return Daemon(directory, env={"AXOCOATL_DSN": dsn}, args=args)


def status(directory: Path, env: dict[str, str] | None = None, *args: str) -> dict[str, object]:
    done = run_cli("cluster", "status", "--json", *args, cwd=directory, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_single_sqlite_daemon_is_one_live_node_and_leaves_the_table_when_it_stops(tmp_path: Path) -> None:
    directory = tmp_path / "proj"
    with running_daemon(directory) as daemon:
        assert daemon.proc is not None
        where = ("--data-dir", str(daemon.data_dir))
        found = status(directory, None, *where)
        assert found["store"] == str(daemon.data_dir / "axocoatl.db")
        [node] = found["nodes"]  # type: ignore[misc]
        assert node["state"] == "live" and node["version"] == __version__ and node["pid"] == daemon.proc.pid
        assert node["url"] == daemon.url and node["runs"] == 0 and node["heartbeat_age_secs"] < 60
        piped = run_cli("cluster", "status", *where, cwd=directory)  # piped: one plain line per node
        assert piped.returncode == 0, piped.stderr
        line = next(line for line in piped.stdout.splitlines() if node["node_id"] in line)
        assert "live" in line and daemon.url in line and __version__ in line
        assert "nodes: 1 (1 live)" in piped.stdout
    assert status(directory, None, *where)["nodes"] == []  # a clean exit removes the node's row


def test_no_database_yet_is_no_node_and_creates_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "proj"
    directory.mkdir()
    (directory / "axocoatl.yaml").write_text(SLOW_PIPELINE.replace("LATENCY", "0"))
    assert status(directory)["nodes"] == []
    human = run_cli("cluster", "status", cwd=directory)
    assert human.returncode == 0 and "no nodes" in human.stdout
    assert not (directory / ".axocoatl").exists()


def test_an_unreachable_store_is_a_clear_error(tmp_path: Path) -> None:
    from tests.pg import free_port

    directory = tmp_path / "proj"
    directory.mkdir()
    (directory / "axocoatl.yaml").write_text(SLOW_PIPELINE.replace("LATENCY", "0") + POSTGRES)
    dsn = f"postgresql://axocoatl:hunter2@127.0.0.1:{free_port()}/axocoatl"
    done = run_cli("cluster", "status", cwd=directory, env={"AXOCOATL_DSN": dsn})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "127.0.0.1" in done.stderr and "hunter2" not in done.stderr
    assert "check that PostgreSQL is running" in done.stderr and not done.stdout


def test_nodes_on_postgres_their_claims_a_stale_node_and_a_drain(tmp_path: Path, postgres_dsn: str) -> None:
    one = pg_node(tmp_path, "node1", postgres_dsn, latency=8000, args=("--grace", "40"))
    two = pg_node(tmp_path, "node2", postgres_dsn)
    env = {"AXOCOATL_DSN": postgres_dsn}
    one.start()
    two.start()
    try:
        with one.client() as client:
            run_id = client.post("/api/workflows/pipeline/execute", json={"input": "slow"}).json()["run_id"]
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:  # a node that died on another machine
            conn.execute(
                "INSERT INTO nodes (node_id, owner, host, pid, version, url, state, started_at, heartbeat_at) "
                "VALUES ('gone', 'elsewhere.invalid:7:beef', 'elsewhere.invalid', 7, '0.0.1', NULL, 'running', %s, %s)",
                (time.time() - 600, time.time() - 300),
            )
        found = status(one.directory, env)
        assert str(found["store"]).startswith("postgresql://")
        by_pid = {n["pid"]: n for n in found["nodes"]}  # type: ignore[attr-defined]
        assert one.proc is not None and two.proc is not None
        assert by_pid[one.proc.pid]["state"] == "live" and by_pid[one.proc.pid]["runs"] == 1
        assert by_pid[two.proc.pid]["state"] == "live" and by_pid[two.proc.pid]["runs"] == 0
        assert by_pid[7]["state"] == "stale" and by_pid[7]["heartbeat_age_secs"] >= 300
        human = run_cli("cluster", "status", cwd=two.directory, env=env).stdout
        assert "nodes: 3 (2 live)" in human and "stale" in human and "adopt" in human

        one.proc.send_signal(signal.SIGTERM)  # node 1 drains: its run gets the grace period
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            states = {n["pid"]: n["state"] for n in status(two.directory, env)["nodes"]}  # type: ignore[attr-defined]
            if states.get(one.proc.pid) == "draining":
                break
            time.sleep(0.2)
        assert states[one.proc.pid] == "draining" and states[two.proc.pid] == "live"
        assert one.proc.wait(timeout=60) == 0
        with two.client() as client:
            assert wait_run(client, run_id, timeout=30)["status"] == "completed"  # finished within the grace
        pids = {n["pid"] for n in status(two.directory, env)["nodes"]}  # type: ignore[attr-defined]
        assert pids == {two.proc.pid, 7}  # node 1 left the table
    finally:
        stop_nodes([one, two])


def test_run_id_prefixes_work_on_the_shared_database(tmp_path: Path, postgres_dsn: str) -> None:
    node = pg_node(tmp_path, "node", postgres_dsn).start()
    env = {"AXOCOATL_DSN": postgres_dsn}
    try:
        with node.client() as client:
            first = client.post("/api/workflows/pipeline/execute", json={"input": "one"}).json()["run_id"]
            second = client.post("/api/workflows/pipeline/execute", json={"input": "two"}).json()["run_id"]
            for run_id in (first, second):
                wait_run(client, run_id)
    finally:
        stop_nodes([node])
    elsewhere = tmp_path / "elsewhere"  # another machine: the same config, no data dir of its own
    elsewhere.mkdir()
    (elsewhere / "axocoatl.yaml").write_text((node.directory / "axocoatl.yaml").read_text())
    shared = next(i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b)
    shown = run_cli("runs", "show", second[: shared + 1], "--json", cwd=elsewhere, env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["run_id"] == second
    ambiguous = run_cli("runs", "show", "run-", cwd=elsewhere, env=env)
    assert ambiguous.returncode == 2 and first in ambiguous.stderr and second in ambiguous.stderr
    typo = run_cli("runs", "show", second[:-1] + ("0" if second[-1] != "0" else "1"), cwd=elsewhere, env=env)
    assert typo.returncode == 3 and f"did you mean '{second}'" in typo.stderr
    assert not (elsewhere / ".axocoatl").exists()


def test_a_run_of_a_node_on_another_host_is_adopted_once_its_heartbeat_is_stale(
    tmp_path: Path, postgres_dsn: str
) -> None:
    dead = pg_node(tmp_path, "dead", postgres_dsn, latency=3000).start()
    with dead.client() as client:
        stale, fresh = (
            client.post("/api/workflows/pipeline/execute", json={"input": text}).json()["run_id"]
            for text in ("stale", "fresh")
        )
    time.sleep(1.0)  # both runs' first steps are in flight
    dead.kill()
    now = time.time()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        # Their owner becomes a process on another machine (its pid cannot be checked from here): one that
        # stopped beating 2 minutes ago, one that beat just now.
        for run_id, beat in ((stale, now - 120), (fresh, now)):
            conn.execute(
                "UPDATE runs SET owner = %s, heartbeat_at = %s WHERE run_id = %s",
                (f"elsewhere.invalid:4242:{run_id[-4:]}", beat, run_id),
            )
    adopter = pg_node(tmp_path, "adopter", postgres_dsn, latency=100).start()
    try:
        with adopter.client() as client:
            done = wait_run(client, stale, timeout=60)
            assert done["status"] == "completed"
            assert {s["agent_id"]: s["status"] for s in done["steps"]} == {"fetch": "completed", "digest": "completed"}
        with psycopg.connect(postgres_dsn) as conn:
            left = conn.execute("SELECT status, owner FROM runs WHERE run_id = %s", (fresh,)).fetchone()
        # The live-looking owner keeps its run: nobody adopts a run whose owner still beats.
        assert left == ("running", f"elsewhere.invalid:4242:{fresh[-4:]}")
        with psycopg.connect(postgres_dsn) as conn:
            attempts = dict(conn.execute("SELECT agent_id, attempts FROM steps WHERE run_id = %s", (stale,)).fetchall())
        assert attempts == {"fetch": 2, "digest": 1}  # the step in flight at the kill ran again, once
    finally:
        stop_nodes([adopter])
