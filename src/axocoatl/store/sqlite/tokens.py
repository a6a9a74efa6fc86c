"""The token ledger (what was spent) and reservations (what a call in flight may spend)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from axocoatl.store.records import LedgerEntry, UsageRow
from axocoatl.store.sqlite.sql import where


def record_spend(db: sqlite3.Connection, entries: Sequence[LedgerEntry]) -> None:
    """Ledger rows; a row naming a reservation releases it in the same transaction."""
    if not entries:
        return
    db.executemany(
        "INSERT INTO token_ledger (agent_id, run_id, kind, provider, model, input, output, ts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(e.agent_id, e.run_id, e.kind, e.provider, e.model, e.input, e.output, e.ts) for e in entries],
    )
    released = [(e.reservation,) for e in entries if e.reservation is not None]
    if released:
        db.executemany("DELETE FROM token_reservations WHERE id = ?", released)


def usage_since(db: sqlite3.Connection, agent_id: str, *, since: float, run_id: str | None) -> tuple[int, int]:
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


def expire_reservations(db: sqlite3.Connection, now: float) -> None:
    db.execute("DELETE FROM token_reservations WHERE expires_at < ?", (now,))


def held(db: sqlite3.Connection, agent_id: str, *, run_id: str | None, day_start: float) -> tuple[int, int]:
    """(tokens spent or reserved in ``run_id``, since ``day_start``) by one agent."""
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
    return int(run), int(day)


def add_reservation(db: sqlite3.Connection, agent_id: str, run_id: str | None, tokens: int, expires_at: float) -> int:
    """A reservation of ``tokens``; returns its id."""
    cur = db.execute(
        "INSERT INTO token_reservations (agent_id, run_id, tokens, expires_at) VALUES (?, ?, ?, ?)",
        (agent_id, run_id, tokens, expires_at),
    )
    return int(cur.lastrowid or 0)


def release(db: sqlite3.Connection, reservation: int) -> None:
    db.execute("DELETE FROM token_reservations WHERE id = ?", (reservation,))


def report(db: sqlite3.Connection, *, since: float | None, agent_id: str | None) -> list[UsageRow]:
    clause, params = where(("ts >= ?", since), ("agent_id = ?", agent_id))
    sql = f"SELECT agent_id, SUM(input), SUM(output), COUNT(*) FROM token_ledger{clause}"
    sql += " GROUP BY agent_id ORDER BY agent_id"
    return [UsageRow(r[0], int(r[1]), int(r[2]), int(r[3])) for r in db.execute(sql, params)]
