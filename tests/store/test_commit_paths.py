"""The store's commit paths: inline commits (NORMAL, in memory), group commit at FULL, lock fallback."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from axocoatl.core.errors import StoreError
from axocoatl.core.messages import ChatMessage
from axocoatl.store import LedgerEntry, SessionAppend, SQLiteStore, StepUpdate, WriteBatch
from axocoatl.store.postgres import PostgresStore
from axocoatl.store.sqlite import commits


@pytest.fixture(params=["full", "normal", "memory", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    if request.param == "postgres":
        s: SQLiteStore = PostgresStore(request.getfixturevalue("postgres_dsn"))
    elif request.param == "memory":
        s = SQLiteStore(Path(":memory:"))
    else:
        s = SQLiteStore(tmp_path / "axocoatl.db", synchronous=request.param)
    await s.open()
    yield s
    await s.close()


def append(agent: str, text: str) -> WriteBatch:
    return WriteBatch(
        session=[SessionAppend(agent, "main", (ChatMessage.user(text), ChatMessage.assistant(text.upper())), 1.0)],
        ledger=[LedgerEntry(agent, 1, 1, 1.0)],
    )


async def thread_of(store: SQLiteStore, agent: str) -> tuple[list[str], int]:
    record = await store.load_session(agent, "main")
    return [m.content for m in record.messages], record.next_seq


async def test_concurrent_batches_all_commit_whole(store: SQLiteStore) -> None:
    await asyncio.gather(*(store.write(append(f"agent{i}", f"hello {i}")) for i in range(50)))
    for i in range(50):
        assert await thread_of(store, f"agent{i}") == ([f"hello {i}", f"HELLO {i}"], 2)
    assert sum(r.calls for r in await store.token_report()) == 50


async def test_a_failing_batch_fails_alone_among_concurrent_ones(store: SQLiteStore) -> None:
    await store.write(append("taken", "first"))
    bad = append("taken", "clash")
    bad.step_updates.append(StepUpdate("r", "a", {"no_such_column": 1}))
    results = await asyncio.gather(
        *(store.write(append(f"ok{i}", "fine")) for i in range(5)),
        store.write(bad),
        *(store.write(append(f"ok{i}", "later")) for i in range(5)),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], StoreError)
    assert (await thread_of(store, "taken"))[0] == ["first", "FIRST"]  # nothing of the failed batch
    for i in range(5):
        assert await thread_of(store, f"ok{i}") == (["fine", "FINE", "later", "LATER"], 4)
    assert sum(r.calls for r in await store.token_report()) == 11  # 1 + 10: the failed batch's row is gone


async def test_a_cancelled_writer_does_not_strand_the_others(store: SQLiteStore) -> None:
    first = asyncio.ensure_future(store.write(append("a", "one")))
    others = [asyncio.ensure_future(store.write(append(f"b{i}", "two"))) for i in range(3)]
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.gather(*others)
    for i in range(3):
        assert (await thread_of(store, f"b{i}"))[1] == 2


async def test_commits_are_durable_on_disk_when_write_returns(tmp_path: Path) -> None:
    path = tmp_path / "axocoatl.db"
    for sync in ("full", "normal"):
        s = SQLiteStore(path, synchronous=sync)
        await s.open()
        await s.write(append(f"agent-{sync}", sync))
        # Another connection (another process would do the same) sees the commit at once.
        with sqlite3.connect(path) as db:
            count = db.execute("SELECT COUNT(*) FROM thread_messages WHERE agent_id = ?", (f"agent-{sync}",))
            assert count.fetchone()[0] == 2
        await s.close()


async def test_a_database_locked_by_another_process_waits_on_the_worker_not_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "axocoatl.db"
    s = SQLiteStore(path, synchronous="normal")
    await s.open()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock
    write = asyncio.ensure_future(s.write(append("agent", "waits")))
    ticks = 0
    while not write.done() and ticks < 20:
        await asyncio.sleep(0.01)  # the event loop keeps running meanwhile
        ticks += 1
    assert not write.done() and ticks == 20
    other.execute("COMMIT")
    other.close()
    await write
    assert (await thread_of(s, "agent"))[1] == 2
    await s.close()


async def test_a_quick_commit_that_finds_the_database_locked_joins_the_next_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At FULL a commit of its own on the worker is an fsync of its own: under load every step's start
    # record (durable=False) found the worker's group commit holding the lock and paid one, serially.
    path = tmp_path / "axocoatl.db"
    s = SQLiteStore(path, synchronous="full")
    await s.open()
    groups: list[int] = []
    real = commits.write_group

    def spy(db: sqlite3.Connection, batches: list[WriteBatch]) -> list[BaseException | None]:
        groups.append(len(batches))
        return real(db, batches)

    monkeypatch.setattr(commits, "write_group", spy)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock, as the worker does while it fsyncs a group
    writes = [asyncio.ensure_future(s.write(append("quick", "start"), durable=False))]
    writes += [asyncio.ensure_future(s.write(append(f"durable{i}", "result"))) for i in range(3)]
    await asyncio.sleep(0.05)
    other.execute("COMMIT")
    other.close()
    await asyncio.gather(*writes)
    assert groups == [4]  # one transaction, one fsync, for the quick commit and the three durable ones
    assert (await thread_of(s, "quick"))[1] == 2
    assert [(await thread_of(s, f"durable{i}"))[1] for i in range(3)] == [2, 2, 2]
    await s.close()


async def test_many_inline_commits_checkpoint_the_wal_in_the_background(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "axocoatl.db", synchronous="normal")
    await s.open()
    for i in range(600):
        await s.write(append("agent", f"message {i}"))
    await s.close()
    with sqlite3.connect(tmp_path / "axocoatl.db") as db:
        assert db.execute("SELECT COUNT(*) FROM thread_messages").fetchone()[0] == 1200
