"""Small SQL helpers the aggregates share: a write transaction, and WHERE clauses of optional filters."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[None]:
    """A write transaction: taken at once (BEGIN IMMEDIATE), committed at the end, rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        rollback(db)
        raise


def rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:  # SQLite may have rolled back already (a full disk does)
        db.execute("ROLLBACK")


def where(*conditions: tuple[str, object]) -> tuple[str, list[Any]]:
    """A WHERE clause of the conditions whose value is not None, and their parameters."""
    used = [(sql, value) for sql, value in conditions if value is not None]
    if not used:
        return "", []
    return " WHERE " + " AND ".join(sql for sql, _ in used), [value for _, value in used]
