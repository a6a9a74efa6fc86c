"""The embedded store: one SQLite file in WAL mode.

Two connections. The event loop's own connection serves the small reads of a turn
(a run, a session, checkpoints, core blocks, spend) inline: in WAL mode a read never
waits for a writer and costs microseconds, far less than a hop to another thread.
A worker thread of our own (worker.py) owns the second connection and runs the long
reads, the claims and heartbeats, and, at synchronous=FULL, the commits, so the event
loop never waits for an fsync. Commits that arrive while one is being fsynced are grouped
into the next transaction (group commit), each batch inside its own savepoint: one
fsync covers many steps and a step's batch is never split nor lost with another's
error. At synchronous=NORMAL a commit does not fsync, so it runs inline too; WAL
checkpoints then run on the worker. An inline statement that finds the database
locked (by the worker's commit, or another process) falls back to the worker, which waits
for the lock; an inline commit that does joins the next group.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from axocoatl.core.errors import StoreError
from axocoatl.store.records import WriteBatch
from axocoatl.store.sqlite import commits
from axocoatl.store.sqlite.schema import BUSY_TIMEOUT_MS, check_database_file, create_atomically, setup
from axocoatl.store.sqlite.worker import Worker, store_closed

T = TypeVar("T")

log = logging.getLogger(__name__)

_BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
CHECKPOINT_EVERY = 256  # inline commits between two background WAL checkpoints (synchronous=NORMAL)


def database_error(path: Path | str, exc: BaseException, action: str = "talking to the database") -> StoreError:
    """A StoreError naming the file, with the fix for the causes users meet (locked, full, corrupt)."""
    text = str(exc)
    lowered = text.lower()
    hint = None
    if "locked" in lowered or "busy" in lowered:
        hint = (
            f"another process held the database for more than {BUSY_TIMEOUT_MS // 1000} s; "
            "try again, or stop the process that holds it (`axocoatl runs list` shows who runs what)"
        )
    elif "full" in lowered:
        hint = "the disk is full: free some space, then try again (nothing committed was lost)"
    elif "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        hint = f"the file is damaged: move {path} away (keep it for recovery) and start again"
    elif "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        hint = f"check that {Path(path).parent} exists and is writable by this user"
    error = StoreError(f"database error on {path} while {action}: {text}", hint=hint)
    error.__cause__ = exc
    return error


@contextmanager
def _mapped_errors(path: Path | str, action: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise database_error(path, exc, action) from exc


class Engine:
    """The two connections to one database, and how work and commits are routed between them."""

    def __init__(self, path: Path, *, synchronous: str) -> None:
        self.path = path
        self.synchronous = synchronous.upper()
        self._in_memory = str(path) == ":memory:"
        # Commits go inline when they do not fsync; at FULL they go to the worker, grouped.
        self._inline_commits = self._in_memory or self.synchronous != "FULL"
        self._worker: Worker | None = None  # the worker thread and its connection
        self._db: sqlite3.Connection | None = None  # the event loop's connection
        self._queued: list[tuple[WriteBatch, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._checkpoint: asyncio.Task[None] | None = None
        self._inline_since_checkpoint = 0

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        if self._in_memory:
            with _mapped_errors(":memory:", "opening an in-memory database"):
                self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                setup(self._db, self.path, self.synchronous)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _mapped_errors(self.path, "creating it"):
            create_atomically(self.path, self.synchronous)
        check_database_file(self.path)
        with _mapped_errors(self.path, "opening it"):
            self._worker = Worker(sqlite3.connect(self.path, isolation_level=None, check_same_thread=False))
            try:
                await self.run(functools.partial(setup, path=self.path, synchronous=self.synchronous))
                db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                # Never wait for a lock on the event loop: a busy database sends the work to the worker.
                db.execute("PRAGMA busy_timeout=0")
                # The loop's own commits are the ones that need no fsync of their own (synchronous=NORMAL
                # commits, or writes marked not durable): the next FULL commit on the worker syncs the WAL
                # frames they appended, in order.
                db.execute("PRAGMA synchronous=NORMAL")
                # The loop's commits never checkpoint (that fsyncs the database file); the worker does.
                db.execute("PRAGMA wal_autocheckpoint=0")
                self._db = db
            except BaseException:
                # Close the worker now: its thread and connection must not outlive a failed open.
                await self.close()
                raise

    async def close(self) -> None:
        for task in (self._flusher, self._checkpoint):
            if task is not None and not task.done():
                with contextlib.suppress(Exception):
                    await task
        self._flusher = self._checkpoint = None
        if self._db is not None:
            db, self._db = self._db, None
            db.close()
        if self._worker is not None:
            worker, self._worker = self._worker, None
            await worker.close()

    # ------------------------------------------------------------------ routing

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the worker's connection (one thread hop for the whole function)."""
        worker = self._worker
        if worker is None:
            if self._db is not None:  # in memory: there is no worker, and nothing to wait for
                with _mapped_errors(self.path, "talking to the database"):
                    return fn(self._db)
            raise store_closed()
        with _mapped_errors(self.path, "talking to the database"):
            return await worker.run(fn)

    async def inline(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a short ``fn`` on the event loop's connection; if another process holds a lock, on the worker."""
        db = self._db
        if db is None:
            raise store_closed()
        try:
            return fn(db)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in _BUSY_CODES or self._worker is None:
                raise database_error(self.path, exc) from exc
        except sqlite3.Error as exc:
            raise database_error(self.path, exc) from exc
        return await self.run(fn)

    # ------------------------------------------------------------------ commits

    async def write(self, batch: WriteBatch, *, durable: bool) -> None:
        """Commit ``batch`` in one transaction: inline when it needs no fsync, else grouped on the worker."""
        if not batch:
            return
        if (self._inline_commits or not durable) and self._write_inline(batch):
            self._inline_since_checkpoint += 1
            if self._inline_since_checkpoint >= CHECKPOINT_EVERY and self._worker is not None:
                self._start_checkpoint()
            return
        if self._db is None:
            raise store_closed()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append((batch, future))
        if self._flusher is None or self._flusher.done():
            # Its own task: a caller that is cancelled must not strand the batches queued behind it.
            self._flusher = asyncio.ensure_future(self._flush())
        await future

    def _write_inline(self, batch: WriteBatch) -> bool:
        """Commit ``batch`` on the loop's connection; False when the database is locked.

        A locked database is most often the worker fsyncing a group: the batch then joins the next
        group instead of a transaction (and, at FULL, an fsync) of its own on the worker, which under
        load made every step's start record a serial fsync.
        """
        db = self._db
        if db is None:
            raise store_closed()
        try:
            commits.write(db, batch)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in _BUSY_CODES or self._worker is None:
                raise database_error(self.path, exc) from exc
            return False
        except sqlite3.Error as exc:
            raise database_error(self.path, exc) from exc
        return True

    async def _flush(self) -> None:
        """Commit queued batches, all that arrived during the previous commit together."""
        while self._queued:
            group, self._queued = self._queued, []
            batches = [batch for batch, _ in group]
            try:
                outcomes = await self.run(functools.partial(commits.write_group, batches=batches))
            except BaseException as exc:
                outcomes = [exc] * len(group)
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if future.done():
                    continue
                if outcome is None:
                    future.set_result(None)
                else:
                    future.set_exception(
                        database_error(self.path, outcome) if isinstance(outcome, sqlite3.Error) else outcome
                    )

    def _start_checkpoint(self) -> None:
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        self._inline_since_checkpoint = 0

        async def checkpoint() -> None:
            try:
                await self.run(lambda db: db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall())
            except Exception:  # the next one will try again; a checkpoint never loses data
                log.warning("WAL checkpoint failed", exc_info=True)

        self._checkpoint = asyncio.ensure_future(checkpoint())
