"""The store (on SQLite and, where a test takes `store`, on PostgreSQL): migrations, batches, runs, sessions, events."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import axocoatl
from axocoatl.config.schema import StoreConfig
from axocoatl.core.errors import StoreError
from axocoatl.core.messages import ChatMessage
from axocoatl.store import (
    EventRecord,
    LedgerEntry,
    RunRecord,
    RunUpdate,
    SessionAppend,
    SQLiteStore,
    StepRecord,
    StepUpdate,
    WriteBatch,
    create_store,
)
from axocoatl.store.migrations import MIGRATIONS
from axocoatl.store.postgres import PostgresStore


def run_record(run_id: str, *, started: float, workflow: str = "wf", status: str = "running") -> RunRecord:
    return RunRecord(
        run_id=run_id,
        workflow_id=workflow,
        status=status,  # type: ignore[arg-type]
        input=f"input of {run_id}",
        spec={"nodes": []},
        started_at=started,
        owner="host:1:aa",
        heartbeat_at=started,
        steps=[StepRecord(run_id, agent, position) for position, agent in enumerate(["b", "a", "c"])],
    )


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


# ---------------------------------------------------------------------------------------- migrations


async def test_migrations_apply_once(tmp_path: Path) -> None:
    path = tmp_path / "axocoatl.db"
    for _ in range(3):
        s = SQLiteStore(path)
        await s.open()
        await s.close()
    applied = rows(path, "SELECT version FROM schema_migrations ORDER BY version")
    assert [v for (v,) in applied] == [version for version, _, _ in MIGRATIONS]
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]


async def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "axocoatl.db"
    s = SQLiteStore(path)
    await s.open()
    await s.close()
    newer = max(v for v, _, _ in MIGRATIONS) + 7
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 0)", (newer,))
    s = SQLiteStore(path)
    before = set(threading.enumerate())
    with pytest.raises(StoreError) as caught:
        await s.open()
    # The refused connection was closed (a leaked connection thread kept the CLI from exiting).
    assert set(threading.enumerate()) == before
    with pytest.raises(StoreError, match="the store is closed"):
        await s.get_run("r")
    assert f"written by a newer axocoatl (schema version {newer})" in caught.value.message
    assert str(path) in caught.value.message
    assert caught.value.hint is not None and "upgrade axocoatl" in caught.value.hint


async def test_store_path_from_config_and_data_dir(tmp_path: Path) -> None:
    assert create_store(StoreConfig(), tmp_path).path == tmp_path / "axocoatl.db"
    custom = tmp_path / "elsewhere.db"
    assert create_store(StoreConfig(path=str(custom)), tmp_path).path == custom


async def test_closed_store_says_so(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "x.db")
    with pytest.raises(StoreError, match="the store is closed"):
        await s.get_run("r")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty (0 bytes)"),
        (b"hello, I am a text file\n" * 4, "is not an SQLite database"),
        (None, "is an SQLite database of another program"),
    ],
)
async def test_a_failed_open_leaves_no_thread_behind(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "axocoatl.db"
    if content is None:  # a valid SQLite file: the store gets as far as starting its worker
        other = sqlite3.connect(path)
        other.execute("CREATE TABLE notes (body TEXT)")
        other.close()
    else:
        path.write_bytes(content)
    before = set(threading.enumerate())
    s = SQLiteStore(path)
    with pytest.raises(StoreError, match=re.escape(message)):
        await s.open()
    assert set(threading.enumerate()) == before
    with pytest.raises(StoreError, match="the store is closed"):
        await s.get_run("r")


@pytest.mark.slow
def test_a_process_that_never_closes_its_store_still_exits(tmp_path: Path) -> None:
    script = """if True:
        import asyncio, sys
        from pathlib import Path
        from axocoatl.store import SQLiteStore

        async def main() -> None:
            store = SQLiteStore(Path(sys.argv[1]))
            await store.open()
            print(len(await store.list_runs()))  # a read on the worker thread: it is running

        asyncio.run(main())  # returns without store.close()
    """
    env = {**os.environ, "PYTHONPATH": str(Path(axocoatl.__file__).resolve().parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "axocoatl.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # a hang guard: the worker thread must not keep the process alive
    )
    assert (result.returncode, result.stdout) == (0, "0\n"), result.stderr


# ---------------------------------------------------------------------------------------- atomic writes


async def test_a_failing_statement_rolls_back_the_whole_batch(store: SQLiteStore) -> None:
    await store.write(WriteBatch(new_runs=[run_record("r1", started=1.0)]))
    batch = WriteBatch(
        new_runs=[run_record("r2", started=2.0)],
        session=[SessionAppend("agent", "main", (ChatMessage.user("hi"), ChatMessage.assistant("yo")), 3.0)],
        ledger=[LedgerEntry("agent", 10, 5, 3.0, run_id="r1")],
        events=[EventRecord("evt-1", "TaskCompleted", 3.0, run_id="r1")],
        step_updates=[StepUpdate("r1", "a", {"status": "completed", "output": "done"}, bump_attempts=True)],
        run_updates=[RunUpdate("r1", {"status": "completed"})],
    )
    batch.step_updates.append(StepUpdate("r1", "b", {"no_such_column": 1}))
    with pytest.raises(StoreError, match="unknown steps column"):
        await store.write(batch)
    run = await store.get_run("r1")
    assert run is not None and run.status == "running"
    assert all(s.status == "pending" and s.attempts == 0 for s in run.steps)
    assert await store.get_run("r2") is None
    thread = await store.load_session("agent", "main")
    assert thread.messages == [] and thread.next_seq == 0
    assert await store.token_report() == []
    assert await store.recent_events() == []


async def test_a_constraint_violation_rolls_back_and_is_a_store_error(store: SQLiteStore) -> None:
    await store.write(WriteBatch(new_runs=[run_record("dup", started=1.0)]))
    clash = WriteBatch(
        ledger=[LedgerEntry("agent", 1, 1, 2.0)],
        session=[SessionAppend("agent", "main", (ChatMessage.user("lost with the batch"),), 2.0)],
        new_runs=[run_record("dup", started=2.0)],  # the same run id: a constraint violation
    )
    with pytest.raises(StoreError) as caught:
        await store.write(clash)
    assert not isinstance(caught.value, sqlite3.Error)
    where = store.dsn if isinstance(store, PostgresStore) else str(store.path)
    assert "database error" in caught.value.message and where in caught.value.message
    assert (await store.load_session("agent", "main")).messages == []
    assert await store.token_report() == []
    # The store stays usable after the rollback.
    await store.write(WriteBatch(ledger=[LedgerEntry("agent", 1, 1, 3.0)]))
    assert [r.calls for r in await store.token_report()] == [1]


async def test_empty_batch_is_a_no_op(store: SQLiteStore) -> None:
    assert not WriteBatch()
    await store.write(WriteBatch())
    assert await store.list_runs() == []


# ---------------------------------------------------------------------------------------- runs


async def test_get_run_returns_steps_in_position_order(store: SQLiteStore) -> None:
    await store.write(WriteBatch(new_runs=[run_record("r1", started=10.0)]))
    await store.write(
        WriteBatch(
            step_updates=[
                StepUpdate("r1", "a", {"status": "running", "started_at": 11.0, "input": "in"}, bump_attempts=True),
                StepUpdate("r1", "a", {"status": "completed", "output": "out", "tokens_in": 3, "tokens_out": 4}),
            ],
            run_updates=[RunUpdate("r1", {"status": "completed", "final_output": "out", "finished_at": 12.0})],
        )
    )
    run = await store.get_run("r1")
    assert run is not None
    assert [s.agent_id for s in run.steps] == ["b", "a", "c"]
    a = run.steps[1]
    assert (a.status, a.attempts, a.input, a.output, a.tokens_in, a.tokens_out) == ("completed", 1, "in", "out", 3, 4)
    assert (run.status, run.final_output, run.finished_at) == ("completed", "out", 12.0)
    assert run.spec == {"nodes": []}
    assert await store.get_run("nope") is None


async def test_list_runs_newest_first_with_filters_and_limit(store: SQLiteStore) -> None:
    await store.write(
        WriteBatch(
            new_runs=[
                run_record("r1", started=1.0),
                run_record("r2", started=3.0, workflow="other"),
                run_record("r3", started=2.0, status="failed"),
            ]
        )
    )
    assert [r.run_id for r in await store.list_runs()] == ["r2", "r3", "r1"]
    assert [r.run_id for r in await store.list_runs(limit=2)] == ["r2", "r3"]
    assert [r.run_id for r in await store.list_runs(workflow_id="wf")] == ["r3", "r1"]
    assert [r.run_id for r in await store.list_runs(status="running")] == ["r2", "r1"]
    assert [r.run_id for r in await store.list_runs(workflow_id="wf", status="failed")] == ["r3"]
    listed = (await store.list_runs())[0]
    assert [s.agent_id for s in listed.steps] == ["b", "a", "c"]


async def test_claim_run_is_compare_and_set(store: SQLiteStore) -> None:
    await store.write(WriteBatch(new_runs=[run_record("r1", started=1.0)]))
    assert await store.claim_run("r1", owner="me", expected_owner="host:1:aa", expected_status="running", now=5.0)
    # A second claimant that read the old owner loses.
    assert not await store.claim_run("r1", owner="you", expected_owner="host:1:aa", expected_status="running", now=6.0)
    run = await store.get_run("r1")
    assert run is not None and (run.owner, run.heartbeat_at) == ("me", 5.0)


async def test_claiming_a_failed_run_reopens_it(store: SQLiteStore) -> None:
    failed = run_record("r1", started=1.0, status="failed")
    failed.error, failed.finished_at = "1 step(s) failed: a", 2.0
    await store.write(WriteBatch(new_runs=[failed]))
    assert not await store.claim_run("r1", owner="me", expected_owner="host:1:aa", expected_status="running", now=3.0)
    assert await store.claim_run("r1", owner="me", expected_owner="host:1:aa", expected_status="failed", now=3.0)
    run = await store.get_run("r1")
    assert run is not None and (run.status, run.error, run.finished_at) == ("running", None, None)


async def test_heartbeat_touches_only_the_owners_running_runs(store: SQLiteStore) -> None:
    done = run_record("r2", started=1.0, status="completed")
    other = run_record("r3", started=1.0)
    other.owner = "someone-else"
    await store.write(WriteBatch(new_runs=[run_record("r1", started=1.0), done, other]))
    await store.heartbeat("host:1:aa", 99.0)
    beats = {r.run_id: r.heartbeat_at for r in await store.list_runs()}
    assert beats == {"r1": 99.0, "r2": 1.0, "r3": 1.0}


# ---------------------------------------------------------------------------------------- sessions, ledger, events


async def test_session_appends_and_resets(store: SQLiteStore) -> None:
    first = (ChatMessage.user("one"), ChatMessage.assistant("two"))
    batch = WriteBatch(session=[SessionAppend("ag", "main", first, 1.0)])
    await store.write(batch)
    assert batch.session[0].first_seq == 0
    later = WriteBatch(session=[SessionAppend("ag", "main", (ChatMessage.user("three"),), 2.0)])
    await store.write(later)
    assert later.session[0].first_seq == 2  # numbered by the store, after the thread's last message
    thread = await store.load_session("ag", "main")
    assert [m.content for m in thread.messages] == ["one", "two", "three"] and thread.next_seq == 3
    await store.write(WriteBatch(session_resets=[("ag", "main")]))
    thread = await store.load_session("ag", "main")
    assert thread.messages == [] and thread.next_seq == 3
    await store.write(WriteBatch(session=[SessionAppend("ag", "main", (ChatMessage.user("four"),), 3.0)]))
    thread = await store.load_session("ag", "main")
    assert [m.content for m in thread.messages] == ["four"] and thread.next_seq == 4
    # Threads are separate conversations; other agents have none yet.
    await store.write(WriteBatch(session=[SessionAppend("ag", "side", (ChatMessage.user("aside"),), 4.0)]))
    assert [m.content for m in (await store.load_session("ag", "side")).messages] == ["aside"]
    assert (await store.load_session("ag", "main")).next_seq == 4
    assert (await store.load_session("other", "main")).messages == []
    assert [t[:2] for t in await store.list_threads("ag")] == [("main", 1), ("side", 1)]


async def test_two_connections_appending_to_one_thread_never_collide(tmp_path: Path) -> None:
    first, second = SQLiteStore(tmp_path / "db.sqlite"), SQLiteStore(tmp_path / "db.sqlite")
    await first.open()
    await second.open()
    try:
        writes = [
            (first if i % 2 else second).write(
                WriteBatch(session=[SessionAppend("ag", "main", (ChatMessage.user(f"m{i}"),), float(i))])
            )
            for i in range(40)
        ]
        await asyncio.gather(*writes)
        thread = await first.load_session("ag", "main")
        assert sorted(m.content for m in thread.messages) == sorted(f"m{i}" for i in range(40))
        assert thread.next_seq == 40
    finally:
        await first.close()
        await second.close()


async def test_tool_messages_round_trip(store: SQLiteStore) -> None:
    from axocoatl.core.messages import ToolCall

    asked = ChatMessage.assistant("", tool_calls=(ToolCall("c1", "echo", {"text": "ü 🙂"}),))
    answer = ChatMessage.tool('{"text": "ü 🙂"}', tool_call_id="c1", name="echo")
    await store.write(WriteBatch(session=[SessionAppend("ag", "main", (asked, answer), 1.0)]))
    assert (await store.load_session("ag", "main")).messages == [asked, answer]


async def test_ledger_usage_and_report(store: SQLiteStore) -> None:
    await store.write(
        WriteBatch(
            ledger=[
                LedgerEntry("a", 10, 5, 100.0, run_id="r1"),
                LedgerEntry("a", 1, 1, 200.0, run_id="r2"),
                LedgerEntry("b", 7, 0, 150.0, run_id="r1"),
            ]
        )
    )
    assert await store.usage_since("a", since=0.0, run_id="r1") == (15, 17)
    assert await store.usage_since("a", since=150.0, run_id=None) == (0, 2)
    report = await store.token_report()
    assert [(r.agent_id, r.input, r.output, r.calls, r.total) for r in report] == [
        ("a", 11, 6, 2, 17),
        ("b", 7, 0, 1, 7),
    ]
    assert [r.agent_id for r in await store.token_report(since=160.0)] == ["a"]
    assert [r.calls for r in await store.token_report(agent_id="b")] == [1]


async def test_recent_events_oldest_first_within_the_limit(store: SQLiteStore) -> None:
    events = [
        EventRecord(f"e{i}", "Custom", float(i), run_id="r1" if i % 2 else "r2", payload={"i": i}) for i in range(6)
    ]
    await store.write(WriteBatch(events=events))
    assert [e.event_id for e in await store.recent_events(limit=3)] == ["e3", "e4", "e5"]
    assert [e.event_id for e in await store.recent_events(run_id="r1")] == ["e1", "e3", "e5"]
    assert (await store.recent_events(limit=1))[0].payload == {"i": 5}


async def test_a_database_of_the_previous_layout_migrates_without_losing_anything(tmp_path: Path) -> None:
    """Version 2 (one session per agent, run inputs in the run row) upgrades in place."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path, isolation_level=None) as db:
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at REAL)")
        for version, name, script in MIGRATIONS[:2]:
            for statement in (s for s in script.split(";") if s.strip()):
                db.execute(statement)
            db.execute("INSERT INTO schema_migrations VALUES (?, ?, 0)", (version, name))
        db.execute(
            "INSERT INTO runs (run_id, workflow_id, status, input, spec, started_at) VALUES "
            "('r1', 'wf', 'completed', 'the old task', '{}', 1.0)"
        )
        db.execute(
            "INSERT INTO steps (run_id, agent_id, position, status, input) VALUES ('r1', 'a', 0, 'completed', 'x')"
        )
        for seq, text in enumerate(["old question", "old answer", "after reset"]):
            role = "user" if seq != 1 else "assistant"
            db.execute(
                "INSERT INTO session_messages VALUES ('ada', ?, ?, 1.0)",
                (seq, ChatMessage.user(text).to_json() if role == "user" else ChatMessage.assistant(text).to_json()),
            )
        db.execute("INSERT INTO agent_sessions VALUES ('ada', 2)")
        summary = '{"format":1,"version":3,"turns":2,"compaction":{"summary":"S","through_seq":1,"archived_through":1}}'
        db.execute("INSERT INTO agent_checkpoints VALUES ('ada', 3, ?, 1.0)", (summary,))
    store = SQLiteStore(path)
    await store.open()
    try:
        run = await store.get_run("r1")
        assert run is not None and run.input == "the old task" and run.steps[0].input == "x"
        thread = await store.load_session("ada", "main")  # the old session is thread "main", reset point kept
        assert [m.content for m in thread.messages] == ["after reset"] and thread.next_seq == 3
        assert (thread.state.summary, thread.state.through_seq) == ("S", 1)
    finally:
        await store.close()
