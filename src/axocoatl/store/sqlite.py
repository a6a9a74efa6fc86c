"""The embedded store: one SQLite file in WAL mode.

Two connections. The event loop's own connection serves the small reads of a turn
(a run, a session, checkpoints, core blocks, spend) inline: in WAL mode a read never
waits for a writer and costs microseconds, far less than a hop to another thread.
A worker thread (aiosqlite's) owns the second connection and runs the long reads,
the claims and heartbeats, and, at synchronous=FULL, the commits, so the event loop
never waits for an fsync. Commits that arrive while one is being fsynced are grouped
into the next transaction (group commit), each batch inside its own savepoint: one
fsync covers many steps and a step's batch is never split nor lost with another's
error. At synchronous=NORMAL a commit does not fsync, so it runs inline too; WAL
checkpoints then run on the worker. An inline statement that finds the database
locked by another process falls back to the worker, which waits for the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from axocoatl.core.errors import OwnershipLost, StoreError
from axocoatl.core.messages import ChatMessage
from axocoatl.store.migrations import MIGRATIONS
from axocoatl.store.records import (
    CoreBlockRecord,
    EventRecord,
    LogRecord,
    MemoryRecord,
    RunRecord,
    StepRecord,
    ThreadRecord,
    ThreadState,
    UsageRow,
    WriteBatch,
)

T = TypeVar("T")

log = logging.getLogger(__name__)

_BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
BUSY_TIMEOUT_MS = 10_000  # how long a statement waits for another process's lock before failing
_SQLITE_HEADER = b"SQLite format 3\x00"
CHECKPOINT_EVERY = 256  # inline commits between two background WAL checkpoints (synchronous=NORMAL)
INLINE_MEMORIES = 256  # an agent with more semantic memories loads them on the worker thread

_STEP_COLUMNS = (
    "run_id, agent_id, position, status, attempts, input, output, error, tokens_in, tokens_out, "
    "started_at, finished_at, completed_seq, context"
)
_RUN_COLUMNS = (
    "run_id, workflow_id, kind, status, input, spec, final_output, error, owner, heartbeat_at, started_at, finished_at"
)
_STEP_FIELDS = frozenset(_STEP_COLUMNS.replace(" ", "").split(","))
_RUN_FIELDS = frozenset(_RUN_COLUMNS.replace(" ", "").split(","))


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


def _check_database_file(path: Path) -> None:
    """Refuse a file at the database path that is not an SQLite database (never silently start afresh)."""
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a database file", hint="set store.path to a file path")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"cannot read the database {path}: {exc.strerror}", hint="check its permissions") from None
    if not header:
        raise StoreError(
            f"{path} is empty (0 bytes), not an axocoatl database",
            hint="a crash or a copy may have truncated it: restore it from a backup, or delete it to start afresh",
        )
    if header != _SQLITE_HEADER:
        raise StoreError(
            f"{path} is not an SQLite database (another program's file?)",
            hint="move it away, or point --data-dir (or store.path) elsewhere",
        )


@contextmanager
def _mapped_errors(path: Path | str, action: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise database_error(path, exc, action) from exc


class SQLiteStore:
    """Durable state in one SQLite file (or in memory, for ``Path(":memory:")``: nothing durable)."""

    def __init__(self, path: Path, *, synchronous: str = "full") -> None:
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        self._in_memory = str(path) == ":memory:"
        # Commits go inline when they do not fsync; at FULL they go to the worker, grouped.
        self._inline_commits = self._in_memory or self.synchronous != "FULL"
        self._conn: aiosqlite.Connection | None = None  # the worker thread's connection
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
                self._setup(self._db)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _mapped_errors(self.path, "creating it"):
            self._create_atomically()
        _check_database_file(self.path)
        with _mapped_errors(self.path, "opening it"):
            self._conn = await aiosqlite.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                await self._run(self._setup)
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
                # Close the connection's thread, or the process hangs at exit after the error.
                await self.close()
                raise

    def _create_atomically(self) -> None:
        """A new database appears whole: built under a temporary name, then linked into place.

        Several processes starting at once on a fresh data dir never see a half-made file, so a
        0-byte file at the path is always damage (see _check_database_file), never a race.
        """
        if self.path.exists():
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{os.urandom(4).hex()}.new")
        try:
            db = sqlite3.connect(tmp, isolation_level=None)
            try:
                self._setup(db)
            finally:
                db.close()
            with contextlib.suppress(FileExistsError):  # another process linked its own first: use that one
                os.link(tmp, self.path)
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()

    async def close(self) -> None:
        for task in (self._flusher, self._checkpoint):
            if task is not None and not task.done():
                with contextlib.suppress(Exception):
                    await task
        self._flusher = self._checkpoint = None
        if self._db is not None:
            db, self._db = self._db, None
            db.close()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    def _setup(self, db: sqlite3.Connection) -> None:
        # The busy timeout first: switching a fresh database to WAL takes a lock that another
        # process opening it at the same moment may hold.
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "schema_migrations" not in tables:
            raise StoreError(
                f"{self.path} is an SQLite database of another program (tables: {', '.join(sorted(tables)[:5])})",
                hint="move it away, or point --data-dir (or store.path) elsewhere",
            )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at REAL)"
        )
        applied = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
        known = {version for version, _, _ in MIGRATIONS}
        newer = sorted(applied - known)
        if newer:
            raise StoreError(
                f"{self.path} was written by a newer axocoatl (schema version {newer[-1]})",
                hint="upgrade axocoatl, or point --data-dir at another directory",
            )
        for version, name, script in MIGRATIONS:
            if version in applied:
                continue
            db.execute("BEGIN IMMEDIATE")
            try:
                # Another process opening the same fresh database may have applied it meanwhile.
                if db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                    db.execute("COMMIT")
                    continue
                for statement in _statements(script):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, strftime('%s','now'))",
                    (version, name),
                )
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)  # SQLite may have rolled back already (a full disk does)
                raise

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the worker's connection (one thread hop for the whole function)."""
        conn = self._conn
        if conn is None:
            if self._db is not None:  # in memory: there is no worker, and nothing to wait for
                with _mapped_errors(self.path, "talking to the database"):
                    return fn(self._db)
            raise StoreError("the store is closed", hint="open the Runtime before using it")
        raw = conn._conn  # the sqlite3 connection owned by aiosqlite's thread
        # aiosqlite's _execute queues one function on its connection thread: a whole
        # transaction costs one hop instead of one per statement.
        with _mapped_errors(self.path, "talking to the database"):
            result: T = await conn._execute(fn, raw)  # type: ignore[no-untyped-call]
        return result

    async def _inline(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a short ``fn`` on the event loop's connection; if another process holds a lock, on the worker."""
        db = self._db
        if db is None:
            raise StoreError("the store is closed", hint="open the Runtime before using it")
        try:
            return fn(db)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in _BUSY_CODES or self._conn is None:
                raise database_error(self.path, exc) from exc
        except sqlite3.Error as exc:
            raise database_error(self.path, exc) from exc
        return await self._run(fn)

    # ------------------------------------------------------------------ writes

    async def write(self, batch: WriteBatch, *, durable: bool = True) -> None:
        """Commit every write of ``batch`` in one transaction (possibly shared with other whole batches).

        ``durable=False``: the commit does not wait for an fsync of its own; a power loss may lose it,
        but only together with every later commit (the WAL is synced in order). For bookkeeping that
        a crash may forget, such as the start of a step's execution.
        """
        if not batch:
            return
        if self._inline_commits or not durable:
            await self._inline(lambda db: _write(db, batch))
            self._inline_since_checkpoint += 1
            if self._inline_since_checkpoint >= CHECKPOINT_EVERY and self._conn is not None:
                self._start_checkpoint()
            return
        if self._db is None:
            raise StoreError("the store is closed", hint="open the Runtime before using it")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append((batch, future))
        if self._flusher is None or self._flusher.done():
            # Its own task: a caller that is cancelled must not strand the batches queued behind it.
            self._flusher = asyncio.ensure_future(self._flush())
        await future

    async def _flush(self) -> None:
        """Commit queued batches, all that arrived during the previous commit together."""
        while self._queued:
            group, self._queued = self._queued, []
            batches = [batch for batch, _ in group]
            try:
                outcomes = await self._run(functools.partial(_write_group, batches=batches))
            except BaseException as exc:
                outcomes = [exc] * len(group)
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if future.done():
                    continue
                if outcome is None:
                    future.set_result(None)
                else:
                    future.set_exception(_store_error(self.path, outcome))

    def _start_checkpoint(self) -> None:
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        self._inline_since_checkpoint = 0

        async def checkpoint() -> None:
            try:
                await self._run(lambda db: db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall())
            except Exception:  # the next one will try again; a checkpoint never loses data
                log.warning("WAL checkpoint failed", exc_info=True)

        self._checkpoint = asyncio.ensure_future(checkpoint())

    # ------------------------------------------------------------------ runs

    async def get_run(self, run_id: str) -> RunRecord | None:
        def read(db: sqlite3.Connection) -> RunRecord | None:
            row = db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                return None
            run = _run_from_row(row)
            run.steps = [
                _step_from_row(r)
                for r in db.execute(f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = ? ORDER BY position", (run_id,))
            ]
            return run

        return await self._inline(read)

    async def list_runs(
        self, *, limit: int = 50, workflow_id: str | None = None, status: str | None = None
    ) -> list[RunRecord]:
        def read(db: sqlite3.Connection) -> list[RunRecord]:
            clause, params = _where(("workflow_id = ?", workflow_id), ("status = ?", status))
            sql = f"SELECT {_RUN_COLUMNS} FROM runs{clause} ORDER BY started_at DESC, run_id DESC LIMIT ?"
            runs = [_run_from_row(r) for r in db.execute(sql, (*params, limit))]
            by_id = {run.run_id: run for run in runs}
            if by_id:
                marks = ",".join("?" * len(by_id))
                for r in db.execute(
                    f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id IN ({marks}) ORDER BY position", tuple(by_id)
                ):
                    step = _step_from_row(r)
                    by_id[step.run_id].steps.append(step)
            return runs

        return await self._run(read)

    async def claim_run(
        self, run_id: str, *, owner: str, expected_owner: str | None, expected_status: str, now: float
    ) -> bool:
        """Take over a run if nobody else did first (compare-and-set on owner and status).

        The claimed run is ``running`` afterwards; claiming a failed run reopens it.
        """

        def claim(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE runs SET owner = ?, heartbeat_at = ?, status = 'running', finished_at = NULL, error = NULL "
                "WHERE run_id = ? AND status = ? AND owner IS ?",
                (owner, now, run_id, expected_status, expected_owner),
            )
            return cur.rowcount == 1

        return await self._run(claim)

    async def heartbeat(self, owner: str, now: float) -> None:
        await self._run(
            lambda db: db.execute(
                "UPDATE runs SET heartbeat_at = ? WHERE owner = ? AND status = 'running'", (now, owner)
            )
        )

    # ------------------------------------------------------------------ sessions

    async def load_session(self, agent_id: str, thread: str) -> ThreadRecord:
        """One thread of an agent: its messages since the last reset and its compaction state."""

        def read(db: sqlite3.Connection) -> ThreadRecord:
            row = db.execute(
                "SELECT start_seq, summary, through_seq, archived_through FROM threads "
                "WHERE agent_id = ? AND thread = ?",
                (agent_id, thread),
            ).fetchone()
            start, summary, through, archived = row if row else (0, "", 0, 0)
            rows = db.execute(
                "SELECT message FROM thread_messages WHERE agent_id = ? AND thread = ? AND seq >= ? ORDER BY seq",
                (agent_id, thread, start),
            ).fetchall()
            next_seq = _next_message_seq(db, agent_id, thread)
            state = ThreadState(agent_id, thread, summary, int(through), int(archived))
            return ThreadRecord(agent_id, thread, [ChatMessage.from_json(r[0]) for r in rows], next_seq, state)

        return await self._inline(read)

    async def session_head(self, agent_id: str, thread: str) -> int:
        """The next message seq of a thread (cheap: tells whether another process appended to it)."""
        return await self._inline(lambda db: _next_message_seq(db, agent_id, thread))

    async def list_threads(self, agent_id: str) -> list[tuple[str, int, float | None]]:
        """(thread, messages since its reset, last message time) of each thread of an agent."""

        def read(db: sqlite3.Connection) -> list[tuple[str, int, float | None]]:
            rows = db.execute(
                "SELECT m.thread, COUNT(*), MAX(m.created_at) FROM thread_messages m "
                "LEFT JOIN threads t ON t.agent_id = m.agent_id AND t.thread = m.thread "
                "WHERE m.agent_id = ? AND m.seq >= COALESCE(t.start_seq, 0) GROUP BY m.thread ORDER BY m.thread",
                (agent_id,),
            ).fetchall()
            return [(str(r[0]), int(r[1]), r[2]) for r in rows]

        return await self._run(read)

    # ------------------------------------------------------------------ memory

    async def load_checkpoints(self, agent_id: str) -> list[tuple[int, str]]:
        """The agent's stored checkpoints as (version, state JSON), newest first."""
        return await self._inline(
            lambda db: [
                (int(r[0]), str(r[1]))
                for r in db.execute(
                    "SELECT version, state FROM agent_checkpoints WHERE agent_id = ? ORDER BY version DESC",
                    (agent_id,),
                )
            ]
        )

    async def load_core_blocks(self, scopes: list[str]) -> list[CoreBlockRecord]:
        """Every stored block of the given scopes (agent ids and/or SHARED_SCOPE)."""
        if not scopes:
            return []

        def read(db: sqlite3.Connection) -> list[CoreBlockRecord]:
            marks = ",".join("?" * len(scopes))
            rows = db.execute(
                "SELECT scope, label, value, limit_chars, description, updated_at FROM core_blocks "
                f"WHERE scope IN ({marks}) ORDER BY scope, label",
                tuple(scopes),
            )
            return [CoreBlockRecord(r[0], r[1], r[2], int(r[3]), r[4], float(r[5])) for r in rows]

        return await self._inline(read)

    async def load_memories(self, agent_id: str) -> list[MemoryRecord]:
        """Every semantic memory of an agent, oldest first, with its vector blob."""

        def read(db: sqlite3.Connection) -> list[MemoryRecord]:
            rows = db.execute(
                "SELECT seq, text, ts, embedder, vector, metadata FROM memories WHERE agent_id = ? ORDER BY seq",
                (agent_id,),
            )
            return [
                MemoryRecord(agent_id, int(r[0]), r[1], float(r[2]), r[3], r[4], json.loads(r[5]) if r[5] else None)
                for r in rows
            ]

        def many(db: sqlite3.Connection) -> bool:  # a bounded probe: at most INLINE_MEMORIES index entries
            probe = "SELECT 1 FROM memories WHERE agent_id = ? LIMIT 1 OFFSET ?"
            return db.execute(probe, (agent_id, INLINE_MEMORIES)).fetchone() is not None

        # A few memories (every agent's first turns) read inline; a large set on the worker.
        if await self._inline(many):
            return await self._run(read)
        return await self._inline(read)

    async def read_log(
        self,
        agent_id: str,
        *,
        first_day: str | None = None,
        last_day: str | None = None,
        since: float | None = None,
        entry_types: tuple[str, ...] = (),
        limit: int = 40,
    ) -> tuple[list[LogRecord], int]:
        """The most recent ``limit`` matching daily-log entries (oldest first) and how many matched."""

        def read(db: sqlite3.Connection) -> tuple[list[LogRecord], int]:
            where = ["agent_id = ?"]
            params: list[Any] = [agent_id]
            if first_day is not None:
                where.append("day >= ?")
                params.append(first_day)
            if last_day is not None:
                where.append("day <= ?")
                params.append(last_day)
            if since is not None:
                where.append("ts > ?")
                params.append(since)
            if entry_types:
                where.append(f"entry_type IN ({','.join('?' * len(entry_types))})")
                params.extend(entry_types)
            clause = " AND ".join(where)
            total = db.execute(f"SELECT COUNT(*) FROM daily_log WHERE {clause}", params).fetchone()[0]
            rows = db.execute(
                f"SELECT id, ts, day, entry_type, content FROM daily_log WHERE {clause} ORDER BY id DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
            entries = [
                LogRecord(int(r[0]), agent_id, float(r[1]), r[2], r[3], json.loads(r[4])) for r in reversed(rows)
            ]
            return entries, int(total)

        return await self._run(read)

    # ------------------------------------------------------------------ tokens

    async def usage_since(self, agent_id: str, *, since: float, run_id: str | None) -> tuple[int, int]:
        """(tokens spent in ``run_id``, tokens spent since ``since``) by one agent."""

        def read(db: sqlite3.Connection) -> tuple[int, int]:
            day = db.execute(
                "SELECT COALESCE(SUM(input + output), 0) FROM token_ledger WHERE agent_id = ? AND ts >= ?",
                (agent_id, since),
            ).fetchone()[0]
            run = 0
            if run_id is not None:
                run = db.execute(
                    "SELECT COALESCE(SUM(input + output), 0) FROM token_ledger WHERE run_id = ? AND agent_id = ?",
                    (run_id, agent_id),
                ).fetchone()[0]
            return int(run), int(day)

        return await self._inline(read)

    async def reserve_tokens(
        self,
        agent_id: str,
        *,
        run_id: str | None,
        day_start: float,
        now: float,
        expires_at: float,
        decide: Callable[[int, int], int],
    ) -> int:
        """Reserve tokens against an agent's shared budgets, atomically across processes.

        Inside one write transaction: the agent's spend in ``run_id`` and since ``day_start``
        (ledger rows plus unexpired reservations) goes to ``decide(run_used, day_used)``, which
        returns how many tokens to reserve (or raises, e.g. BudgetExceeded: nothing is reserved).
        Returns the reservation id; a ledger row naming it releases it in its own transaction.
        """

        def reserve(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM token_reservations WHERE expires_at < ?", (now,))
                day = db.execute(
                    "SELECT (SELECT COALESCE(SUM(input + output), 0) FROM token_ledger WHERE agent_id = ? AND ts >= ?)"
                    " + (SELECT COALESCE(SUM(tokens), 0) FROM token_reservations WHERE agent_id = ?)",
                    (agent_id, day_start, agent_id),
                ).fetchone()[0]
                run = 0
                if run_id is not None:
                    run = db.execute(
                        "SELECT (SELECT COALESCE(SUM(input + output), 0) FROM token_ledger "
                        "WHERE run_id = ? AND agent_id = ?) + (SELECT COALESCE(SUM(tokens), 0) "
                        "FROM token_reservations WHERE run_id = ? AND agent_id = ?)",
                        (run_id, agent_id, run_id, agent_id),
                    ).fetchone()[0]
                tokens = decide(int(run), int(day))
                cur = db.execute(
                    "INSERT INTO token_reservations (agent_id, run_id, tokens, expires_at) VALUES (?, ?, ?, ?)",
                    (agent_id, run_id, tokens, expires_at),
                )
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
            return int(cur.lastrowid or 0)

        # Not fsynced on its own: a reservation lost to a power cut frees its tokens, nothing more.
        return await self._inline(reserve)

    async def release_tokens(self, reservation: int) -> None:
        """Drop a reservation whose call made no spend (it failed before the provider answered)."""
        await self._inline(lambda db: db.execute("DELETE FROM token_reservations WHERE id = ?", (reservation,)))

    async def token_report(self, *, since: float | None = None, agent_id: str | None = None) -> list[UsageRow]:
        def read(db: sqlite3.Connection) -> list[UsageRow]:
            clause, params = _where(("ts >= ?", since), ("agent_id = ?", agent_id))
            sql = f"SELECT agent_id, SUM(input), SUM(output), COUNT(*) FROM token_ledger{clause}"
            sql += " GROUP BY agent_id ORDER BY agent_id"
            return [UsageRow(r[0], int(r[1]), int(r[2]), int(r[3])) for r in db.execute(sql, params)]

        return await self._run(read)

    # ------------------------------------------------------------------ events

    async def recent_events(self, *, limit: int = 200, run_id: str | None = None) -> list[EventRecord]:
        def read(db: sqlite3.Connection) -> list[EventRecord]:
            cols = "event_id, type, ts, produced_by, run_id, agent_id, payload"
            if run_id is None:
                rows = db.execute(f"SELECT {cols} FROM events ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
            else:
                rows = db.execute(
                    f"SELECT {cols} FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT ?", (run_id, limit)
                ).fetchall()
            return [EventRecord(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in reversed(rows)]

        return await self._run(read)


# ---------------------------------------------------------------------- helpers


def _where(*conditions: tuple[str, object]) -> tuple[str, list[Any]]:
    """A WHERE clause of the conditions whose value is not None, and their parameters."""
    used = [(sql, value) for sql, value in conditions if value is not None]
    if not used:
        return "", []
    return " WHERE " + " AND ".join(sql for sql, _ in used), [value for _, value in used]


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _store_error(path: Path, exc: BaseException) -> BaseException:
    return database_error(path, exc) if isinstance(exc, sqlite3.Error) else exc


def _write(db: sqlite3.Connection, batch: WriteBatch) -> None:
    """One batch, one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        _apply(db, batch)
        db.execute("COMMIT")
    except BaseException:
        _rollback(db)
        raise


def _write_group(db: sqlite3.Connection, batches: list[WriteBatch]) -> list[BaseException | None]:
    """Several batches, one transaction (one fsync); each batch in a savepoint, so a failing
    batch is rolled back alone and the others commit. Returns each batch's error or None."""
    if len(batches) == 1:
        _write(db, batches[0])
        return [None]
    outcomes: list[BaseException | None] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for batch in batches:
            db.execute("SAVEPOINT batch")
            try:
                _apply(db, batch)
            except Exception as exc:
                db.execute("ROLLBACK TO batch")
                outcomes.append(exc)
            else:
                outcomes.append(None)
            db.execute("RELEASE batch")
        db.execute("COMMIT")
    except BaseException:
        _rollback(db)
        raise
    return outcomes


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        db.execute("ROLLBACK")


def _apply(db: sqlite3.Connection, batch: WriteBatch) -> None:
    """The statements of one batch, inside the caller's transaction."""
    for run_id, owner, now in batch.fences:
        fenced = db.execute(
            "UPDATE runs SET heartbeat_at = ? WHERE run_id = ? AND owner = ?",
            (now, run_id, owner),
        )
        if fenced.rowcount != 1:
            raise OwnershipLost(
                f"run '{run_id}' is no longer owned by this process (another process resumed it)",
                hint="this process stops driving it; see `axocoatl runs show RUN_ID`",
            )
    for run in batch.new_runs:
        db.execute(
            f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({','.join('?' * 12)})",
            (
                run.run_id,
                run.workflow_id,
                run.kind,
                run.status,
                run.input,
                json.dumps(run.spec),
                run.final_output,
                run.error,
                run.owner,
                run.heartbeat_at,
                run.started_at,
                run.finished_at,
            ),
        )
        db.executemany(
            f"INSERT INTO steps ({_STEP_COLUMNS}) VALUES ({','.join('?' * 14)})",
            [
                (
                    s.run_id,
                    s.agent_id,
                    s.position,
                    s.status,
                    s.attempts,
                    s.input,
                    s.output,
                    s.error,
                    s.tokens_in,
                    s.tokens_out,
                    s.started_at,
                    s.finished_at,
                    s.completed_seq,
                    s.context,
                )
                for s in run.steps
            ],
        )
    for agent_id, thread in batch.session_resets:
        # The thread starts after its last message; the compaction summary was of the old one.
        db.execute(
            "INSERT INTO threads (agent_id, thread, start_seq) VALUES (?, ?, ?) "
            "ON CONFLICT(agent_id, thread) DO UPDATE SET start_seq = excluded.start_seq, summary = '', "
            "through_seq = 0, archived_through = 0",
            (agent_id, thread, _next_message_seq(db, agent_id, thread)),
        )
    for append in batch.session:
        append.first_seq = _next_message_seq(db, append.agent_id, append.thread)
        db.executemany(
            "INSERT INTO thread_messages (agent_id, thread, seq, message, created_at) VALUES (?, ?, ?, ?, ?)",
            [
                (append.agent_id, append.thread, append.first_seq + i, m.to_json(), append.ts)
                for i, m in enumerate(append.messages)
            ],
        )
    for state in batch.thread_states:
        db.execute(
            "INSERT INTO threads (agent_id, thread, summary, through_seq, archived_through, updated_at) "
            "VALUES (?, ?, ?, ?, ?, strftime('%s','now')) ON CONFLICT(agent_id, thread) DO UPDATE SET "
            "summary = excluded.summary, through_seq = excluded.through_seq, "
            "archived_through = excluded.archived_through, updated_at = excluded.updated_at",
            (state.agent_id, state.thread, state.summary, state.through_seq, state.archived_through),
        )
    if batch.ledger:
        db.executemany(
            "INSERT INTO token_ledger (agent_id, run_id, kind, provider, model, input, output, ts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(e.agent_id, e.run_id, e.kind, e.provider, e.model, e.input, e.output, e.ts) for e in batch.ledger],
        )
        released = [(e.reservation,) for e in batch.ledger if e.reservation is not None]
        if released:
            db.executemany("DELETE FROM token_reservations WHERE id = ?", released)
    if batch.events:
        db.executemany(
            "INSERT INTO events (event_id, type, produced_by, run_id, agent_id, payload, ts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (e.event_id, e.type, e.produced_by, e.run_id, e.agent_id, json.dumps(e.payload, default=str), e.ts)
                for e in batch.events
            ],
        )
    for update in batch.step_updates:
        _update(
            db,
            "steps",
            _STEP_FIELDS,
            update.fields,
            ("run_id", update.run_id),
            ("agent_id", update.agent_id),
            bump=update.bump_attempts,
        )
    for run_update in batch.run_updates:
        _update(db, "runs", _RUN_FIELDS, run_update.fields, ("run_id", run_update.run_id))
    if batch.log_entries:
        db.executemany(
            "INSERT INTO daily_log (agent_id, day, entry_type, content, ts) VALUES (?, ?, ?, ?, ?)",
            [
                (e.agent_id, e.day, e.entry_type, json.dumps(e.content, ensure_ascii=False, default=str), e.ts)
                for e in batch.log_entries
            ],
        )
    for memory in batch.memories:
        if memory.seq < 0:  # numbered here: two processes adding memories to one agent never collide
            last = db.execute("SELECT MAX(seq) FROM memories WHERE agent_id = ?", (memory.agent_id,)).fetchone()[0]
            memory.seq = 0 if last is None else int(last) + 1
        db.execute(
            "INSERT INTO memories (agent_id, seq, text, embedder, vector, metadata, ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                memory.agent_id,
                memory.seq,
                memory.text,
                memory.embedder,
                memory.vector,
                json.dumps(memory.metadata) if memory.metadata else None,
                memory.ts,
            ),
        )
    if batch.memory_vectors:
        db.executemany(
            "UPDATE memories SET embedder = ?, vector = ? WHERE agent_id = ? AND seq = ?",
            [(v.embedder, v.vector, v.agent_id, v.seq) for v in batch.memory_vectors],
        )
    if batch.core_blocks:
        db.executemany(
            "INSERT INTO core_blocks (scope, label, value, limit_chars, description, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(scope, label) DO UPDATE SET value = excluded.value, "
            "limit_chars = excluded.limit_chars, description = excluded.description, "
            "updated_at = excluded.updated_at",
            [(b.scope, b.label, b.value, b.limit, b.description, b.updated_at) for b in batch.core_blocks],
        )
    for checkpoint in batch.checkpoints:
        last = db.execute(
            "SELECT MAX(version) FROM agent_checkpoints WHERE agent_id = ?", (checkpoint.agent_id,)
        ).fetchone()[0]
        checkpoint.version = max(checkpoint.version, (int(last) if last is not None else 0) + 1)
        db.execute(
            "INSERT INTO agent_checkpoints (agent_id, version, state, created_at) VALUES (?, ?, ?, ?)",
            (checkpoint.agent_id, checkpoint.version, checkpoint.state, checkpoint.ts),
        )
        db.execute(
            "DELETE FROM agent_checkpoints WHERE agent_id = ? AND version <= ?",
            (checkpoint.agent_id, checkpoint.version - max(checkpoint.keep, 1)),
        )


def _next_message_seq(db: sqlite3.Connection, agent_id: str, thread: str) -> int:
    """The seq of a thread's next message: after its last one, and never before its reset point."""
    row = db.execute(
        "SELECT (SELECT MAX(seq) FROM thread_messages WHERE agent_id = ? AND thread = ?), "
        "(SELECT start_seq FROM threads WHERE agent_id = ? AND thread = ?)",
        (agent_id, thread, agent_id, thread),
    ).fetchone()
    last, start = row
    return max(int(start or 0), (int(last) + 1) if last is not None else 0)


def _update(
    db: sqlite3.Connection,
    table: str,
    allowed: frozenset[str],
    fields: dict[str, Any],
    *keys: tuple[str, str],
    bump: bool = False,
) -> None:
    unknown = set(fields) - allowed
    if unknown:
        raise StoreError(f"cannot update unknown {table} column(s): {', '.join(sorted(unknown))}")
    sets = [f"{name} = ?" for name in fields]
    if bump:
        sets.append("attempts = attempts + 1")
    if not sets:
        return
    where = " AND ".join(f"{k} = ?" for k, _ in keys)
    db.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE {where}", (*fields.values(), *(v for _, v in keys)))


def _run_from_row(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        workflow_id=row[1],
        kind=row[2],
        status=row[3],
        input=row[4],
        spec=json.loads(row[5]),
        final_output=row[6],
        error=row[7],
        owner=row[8],
        heartbeat_at=row[9],
        started_at=row[10],
        finished_at=row[11],
    )


def _step_from_row(row: tuple[Any, ...]) -> StepRecord:
    return StepRecord(*row)
