"""A psycopg connection that speaks the sqlite3 calls the store's aggregates make.

``execute``/``executemany`` take SQLite-dialect SQL (translated once per statement text, see
dialect.py) and return a cursor with ``fetchone``/``fetchall``/iteration, ``rowcount`` and
``lastrowid``; ``BEGIN IMMEDIATE`` is a transaction holding the store's write lock, which
gives PostgreSQL the one-writer-at-a-time semantics the aggregates were written for (a
read-then-write such as the next memory seq, or a token reservation, cannot interleave with
another node's). Row claims need no such lock: they are compare-and-set UPDATEs, which
PostgreSQL's row locks already serialize.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import pq

from axocoatl.store.postgres import dialect

WRITE_LOCK = 0x61786F63  # pg_advisory_xact_lock key held by every write transaction ("axoc")
Row = tuple[Any, ...]


class Catalog:
    """What translation needs to know of the schema, and the translations made so far."""

    def __init__(self, primary_keys: Mapping[str, tuple[str, ...]], identities: Mapping[str, str]) -> None:
        self.primary_keys = dict(primary_keys)
        self.identities = dict(identities)  # table -> its identity column (SQLite's rowid alias)
        self._translated: dict[str, str] = {}

    def sql(self, statement: str) -> str:
        known = self._translated.get(statement)
        if known is None:
            known = self._translated[statement] = dialect.translate(statement, self.primary_keys)
        return known


def load_catalog(conn: psycopg.Connection[Row]) -> Catalog:
    keys: dict[str, list[str]] = {}
    for table, column in conn.execute(
        "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc "
        "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name "
        "AND kcu.table_schema = tc.table_schema "
        "WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema() "
        "ORDER BY tc.table_name, kcu.ordinal_position"
    ):
        keys.setdefault(str(table).lower(), []).append(str(column).lower())
    identities = {
        str(table).lower(): str(column)
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE is_identity = 'YES' AND table_schema = current_schema()"
        )
    }
    return Catalog({t: tuple(c) for t, c in keys.items()}, identities)


class Cursor:
    """The result of one statement, fetched whole."""

    def __init__(self, rows: list[Row], rowcount: int, lastrowid: int | None) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> Row | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Row]:
        rows, self._next = self._rows[self._next :], len(self._rows)
        return rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


class Connection:
    """sqlite3.Connection's surface (as the aggregates use it) over one autocommit psycopg connection."""

    def __init__(self, conn: psycopg.Connection[Row], catalog: Catalog) -> None:
        self._conn = conn
        self._catalog = catalog

    @property
    def in_transaction(self) -> bool:
        return self._conn.info.transaction_status != pq.TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        head = sql.strip().upper()
        if head.startswith("BEGIN"):
            self._conn.execute("BEGIN")
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            return Cursor([], -1, None)
        statement = self._catalog.sql(sql)
        identity = None
        table = dialect.inserted_table(sql)
        if table is not None and "RETURNING" not in head and (identity := self._catalog.identities.get(table)):
            statement += f" RETURNING {identity}"
        cur = self._conn.execute(statement, _params(params))
        rows = [_row(r) for r in cur.fetchall()] if cur.description is not None else []
        lastrowid = int(rows[0][0]) if identity is not None and rows else None
        return Cursor([] if identity is not None else rows, cur.rowcount, lastrowid)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Cursor:
        batch = [_params(p) for p in seq]
        if not batch:
            return Cursor([], 0, None)
        with self._conn.cursor() as cur:
            cur.executemany(self._catalog.sql(sql), batch)
            return Cursor([], cur.rowcount, None)


def _params(params: Sequence[Any]) -> tuple[Any, ...]:
    # SQLite stores booleans as integers, and the schema's flags are integer columns.
    return tuple(int(p) if isinstance(p, bool) else p for p in params)


def _row(row: Sequence[Any]) -> Row:
    # SUM over integers is numeric in PostgreSQL; the aggregates expect SQLite's int (or float).
    return tuple(_number(v) if isinstance(v, Decimal) else v for v in row)


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
