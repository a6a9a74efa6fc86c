"""The store's worker thread: submitted functions run in order, failures come back, closing drains the queue."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator

import pytest

from axocoatl.core.errors import StoreError
from axocoatl.store.sqlite.worker import Worker


@pytest.fixture
async def worker() -> AsyncIterator[Worker]:
    w = Worker(sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False))
    yield w
    await w.close()


async def test_functions_run_on_its_own_thread_in_the_order_submitted(worker: Worker) -> None:
    order: list[tuple[int, str]] = []

    def job(n: int) -> int:
        order.append((n, threading.current_thread().name))
        return n * n

    results = await asyncio.gather(*(worker.run(lambda db, n=n: job(n)) for n in range(50)))
    assert results == [n * n for n in range(50)]
    assert [n for n, _ in order] == list(range(50))
    assert {name for _, name in order} == {"axocoatl-sqlite"}
    assert threading.current_thread().name != "axocoatl-sqlite"


async def test_a_failing_function_raises_in_its_caller_and_the_thread_serves_on(worker: Worker) -> None:
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await worker.run(lambda db: db.execute("SELECT * FROM nowhere"))

    def fail(db: sqlite3.Connection) -> None:
        raise ValueError("not a database problem")

    with pytest.raises(ValueError, match="not a database problem"):
        await worker.run(fail)
    await worker.run(lambda db: db.execute("CREATE TABLE t (x)"))
    assert await worker.run(lambda db: db.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == 0


async def test_a_cancelled_caller_does_not_stop_its_function(worker: Worker) -> None:
    await worker.run(lambda db: db.execute("CREATE TABLE t (x)"))
    gate = threading.Event()

    def insert(db: sqlite3.Connection) -> None:
        gate.wait()
        db.execute("INSERT INTO t VALUES (1)")

    caller = asyncio.ensure_future(worker.run(insert))
    await asyncio.sleep(0)
    caller.cancel()
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert await worker.run(lambda db: db.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == 1


async def test_closing_runs_what_is_queued_then_ends_the_thread() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    before = set(threading.enumerate())
    worker = Worker(db)
    assert len(set(threading.enumerate()) - before) == 1
    gate = threading.Event()
    queued = [asyncio.ensure_future(worker.run(lambda db: gate.wait()))]
    queued += [asyncio.ensure_future(worker.run(lambda db, n=n: n)) for n in range(3)]
    await asyncio.sleep(0)  # every call is queued
    closing = asyncio.ensure_future(worker.close())
    await asyncio.sleep(0)
    assert not closing.done()  # it waits for the queued work
    gate.set()
    await closing
    assert [f.result() for f in queued] == [True, 0, 1, 2]
    assert set(threading.enumerate()) == before  # the thread is gone, not merely told to stop
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        db.execute("SELECT 1")
    with pytest.raises(StoreError, match="the store is closed"):
        await worker.run(lambda db: 1)
    await worker.close()  # twice is harmless
