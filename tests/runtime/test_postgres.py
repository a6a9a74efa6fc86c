"""Runtimes on a PostgreSQL store: workflows commit there, and two runtimes on one database share its runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from axocoatl.core import events as ev
from axocoatl.core.errors import OwnershipLost
from axocoatl.runtime.runtime import Runtime
from axocoatl.store.postgres import PostgresStore

CONFIG = """
agents:
  - id: a
    provider: mock
    options: {{latency_ms: {latency}}}
  - id: b
    provider: mock
    depends_on: [a]
workflows:
  - id: w
    agents: [a, b]
store:
  backend: postgres
  dsn: {dsn}
"""


async def test_a_workflow_on_postgres_commits_its_steps_events_and_spend(
    make_runtime: Callable[..., Runtime], postgres_dsn: str
) -> None:
    async with make_runtime(CONFIG.format(dsn=postgres_dsn, latency=0)) as rt:
        assert isinstance(rt.store, PostgresStore)
        run = await rt.run_workflow("w", "hello postgres")
        assert run.status == "completed"
    # A fresh store on the same database sees everything the runtime committed.
    store = PostgresStore(postgres_dsn)
    await store.open()
    try:
        record = await store.get_run(run.run_id)
        assert record is not None and record.status == "completed" and record.input == "hello postgres"
        assert [(s.agent_id, s.status, s.attempts) for s in record.steps] == [
            ("a", "completed", 1),
            ("b", "completed", 1),
        ]
        assert {r.agent_id for r in await store.token_report()} == {"a", "b"}
        assert any(e.type == ev.TASK_COMPLETED for e in await store.recent_events(run_id=run.run_id))
    finally:
        await store.close()


async def test_a_run_taken_over_by_another_node_is_not_written_by_its_old_owner(
    make_runtime: Callable[..., Runtime], postgres_dsn: str
) -> None:
    async with make_runtime(CONFIG.format(dsn=postgres_dsn, latency=300)) as rt:
        started = asyncio.Event()
        rt.bus.subscribe(lambda e: started.set() if e.type == ev.AGENT_ACTIVATED else None)
        run_id, task = await rt.start_workflow("w", "task")
        await started.wait()
        other = PostgresStore(postgres_dsn)  # another node on the same database
        await other.open()
        try:
            taken = await other.claim_run(
                run_id, owner="node-2:1:abc", expected_owner=rt.owner, expected_status="running", now=rt.clock.now()
            )
            # Two nodes racing for the same run: the second claim of the old owner fails.
            assert taken
            assert not await other.claim_run(
                run_id, owner="node-3:1:def", expected_owner=rt.owner, expected_status="running", now=rt.clock.now()
            )
            with pytest.raises(OwnershipLost, match="no longer owned by this process"):
                await task
            record = await other.get_run(run_id)
        finally:
            await other.close()
    assert record is not None and record.owner == "node-2:1:abc"
    assert [(s.agent_id, s.status) for s in record.steps] == [("a", "running"), ("b", "pending")]


async def test_concurrent_claims_of_one_run_from_many_connections_have_one_winner(postgres_dsn: str) -> None:
    from tests.store.test_sqlite import run_record

    from axocoatl.store import WriteBatch

    stores = [PostgresStore(postgres_dsn) for _ in range(4)]
    for s in stores:
        await s.open()
    try:
        await stores[0].write(WriteBatch(new_runs=[run_record(f"r{i}", started=1.0) for i in range(10)]))
        claims = [
            s.claim_run(f"r{i}", owner=f"node{n}", expected_owner="host:1:aa", expected_status="running", now=2.0)
            for i in range(10)
            for n, s in enumerate(stores)
        ]
        won = await asyncio.gather(*claims)
        assert sum(won) == 10  # each run: exactly one of the four nodes
    finally:
        for s in stores:
            await s.close()


async def test_every_migration_applies_on_postgres_once_and_a_second_node_finds_it_done(postgres_dsn: str) -> None:
    import psycopg

    from axocoatl.store.migrations import MIGRATIONS

    first, second = PostgresStore(postgres_dsn), PostgresStore(postgres_dsn)
    await asyncio.gather(first.open(), second.open())  # two nodes starting at once on an empty database
    await asyncio.gather(first.close(), second.close())
    with psycopg.connect(postgres_dsn) as conn:
        applied = [int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        tables = {str(r[0]) for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert applied == [version for version, _, _ in MIGRATIONS]
    assert {"runs", "steps", "thread_messages", "schedules", "schedule_fires", "approvals", "run_plans"} <= tables


async def test_three_nodes_on_one_postgres_database_fire_each_schedule_slot_once(
    tmp_path: Path, postgres_dsn: str
) -> None:
    from .support import build_config, mock_agent
    from .test_schedules import T0, FakeClock, settle

    clock = FakeClock()
    entry = {"id": "tick", "workflow": "wf", "input": "scheduled work", "every": "5s"}
    config = build_config([mock_agent("a")], schedules=[entry], store={"backend": "postgres", "dsn": postgres_dsn})
    async with (
        Runtime(config, data_dir=tmp_path / "n1", clock=clock) as one,
        Runtime(config, data_dir=tmp_path / "n2", clock=clock) as two,
        Runtime(config, data_dir=tmp_path / "n3", clock=clock) as three,
    ):
        nodes = (one, two, three)
        await asyncio.gather(*(n.scheduler.tick() for n in nodes))
        for _ in range(6):
            clock.advance(5)
            await asyncio.gather(*(n.scheduler.tick() for n in (*nodes, *nodes)))
            for n in nodes:
                await settle(n)
        runs = await settle(one)
        fires = [(f.slot, f.outcome) for f in reversed(await one.store.schedule_fires("tick", limit=1000))]
    assert fires == [(T0 + 5 * i, "started") for i in range(1, 7)]
    assert len(runs) == 6 and all(r.status == "completed" for r in runs)


@pytest.mark.slow
def test_the_cli_reads_runs_from_postgres_without_a_daemon(tmp_path: Path, postgres_dsn: str) -> None:
    import json

    from tests.conftest import run_cli

    project = tmp_path / "project"
    project.mkdir()
    (project / "axocoatl.yaml").write_text(CONFIG.format(dsn="${AXOCOATL_DSN}", latency=0))
    env = {"AXOCOATL_DSN": postgres_dsn}
    ran = run_cli("workflow", "run", "w", "-i", "from the cli", cwd=project, env=env)
    assert ran.returncode == 0, ran.stderr
    listed = run_cli("runs", "list", "--json", cwd=project, env=env)
    assert listed.returncode == 0, listed.stderr
    [run] = json.loads(listed.stdout)
    assert (run["workflow_id"], run["status"]) == ("w", "completed")
    assert not (project / ".axocoatl" / "axocoatl.db").exists()  # nothing went to a SQLite file


async def test_a_node_takes_up_its_own_driverless_run_at_the_second_beat_and_another_nodes_at_the_first(
    tmp_path: Path, postgres_dsn: str
) -> None:
    from tests.store.test_sqlite import run_record

    from axocoatl.config.loader import parse_config_text
    from axocoatl.store import WriteBatch

    config = parse_config_text(CONFIG.format(dsn=postgres_dsn, latency=0), file="t.yaml", env={}).config
    async with Runtime(config, data_dir=tmp_path / "n1", auto_resume=True) as rt:
        plan_of = await rt.run_workflow("w", "template")  # a real spec to copy into the stranded runs
        template = await rt.store.get_run(plan_of.run_id)
        assert template is not None
        own, dead = run_record("own", started=rt.clock.now()), run_record("dead", started=rt.clock.now())
        for stranded, owner in ((own, rt.owner), (dead, "gone-host:1:abc")):
            stranded.spec, stranded.workflow_id, stranded.owner = template.spec, "w", owner
            stranded.heartbeat_at = rt.clock.now() - 3600  # beat long ago
            stranded.steps = [replace(s, run_id=stranded.run_id) for s in template.steps]
            for step in stranded.steps:
                step.status, step.attempts, step.output, step.completed_seq = "pending", 0, None, None
        await rt.store.write(WriteBatch(new_runs=[own, dead]))
        # First beat: the other node's run; its own only looks suspect.
        assert len(await asyncio.gather(*await rt._adopt_orphans())) == 1
        await rt.wait_for_runs(30)
        assert (await rt.get_run("dead")).status == "completed"
        assert (await rt.get_run("own")).status == "interrupted"
        # Second beat: still without a driver, so taken up.
        assert len(await asyncio.gather(*await rt._adopt_orphans())) == 1
        await rt.wait_for_runs(30)
        assert (await rt.get_run("own")).status == "completed"
