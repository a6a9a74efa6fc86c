"""Opening a database file: refusing a file that is not ours, creating a new one atomically, migrating it."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from axocoatl.core.errors import StoreError
from axocoatl.store.migrations import MIGRATIONS
from axocoatl.store.sqlite.sql import immediate

BUSY_TIMEOUT_MS = 10_000  # how long a statement waits for another process's lock before failing
_SQLITE_HEADER = b"SQLite format 3\x00"


def check_database_file(path: Path) -> None:
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


def create_atomically(path: Path, synchronous: str) -> None:
    """A new database appears whole: built under a temporary name, then linked into place.

    Several processes starting at once on a fresh data dir never see a half-made file, so a
    0-byte file at the path is always damage (see check_database_file), never a race.
    """
    if path.exists():
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.new")
    try:
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            # A rollback journal while it is built: every migration lands in the file itself, or fails
            # loudly (a full disk). In WAL mode the data would sit in the -wal file until a checkpoint
            # at close, which can fail silently, and the file linked into place would be half-written.
            setup(db, path, synchronous, journal_mode="DELETE")
        finally:
            db.close()
        with contextlib.suppress(FileExistsError):  # another process linked its own first: use that one
            os.link(tmp, path)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def setup(db: sqlite3.Connection, path: Path, synchronous: str, *, journal_mode: str = "WAL") -> None:
    """Set a connection's pragmas and bring the schema of the database ``path`` up to date."""
    # The busy timeout first: switching a fresh database to WAL takes a lock that another
    # process opening it at the same moment may hold.
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "schema_migrations" not in tables:
        raise StoreError(
            f"{path} is an SQLite database of another program (tables: {', '.join(sorted(tables)[:5])})",
            hint="move it away, or point --data-dir (or store.path) elsewhere",
        )
    db.execute(f"PRAGMA journal_mode={journal_mode}")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at REAL)")
    applied = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
    known = {version for version, _, _ in MIGRATIONS}
    newer = sorted(applied - known)
    if newer:
        raise StoreError(
            f"{path} was written by a newer axocoatl (schema version {newer[-1]})",
            hint="upgrade axocoatl, or point --data-dir at another directory",
        )
    for version, name, script in MIGRATIONS:
        if version in applied:
            continue
        with immediate(db):
            # Another process opening the same fresh database may have applied it meanwhile.
            if db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                continue
            for statement in _statements(script):
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, strftime('%s','now'))",
                (version, name),
            )


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
