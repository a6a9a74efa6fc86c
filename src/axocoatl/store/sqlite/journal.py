"""The tool-call journal of workflow steps, and the workspaces of runs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from axocoatl.store.records import JournalRecord, WorkspaceRecord

_COLUMNS = (
    "run_id, agent_id, activation, round, idx, call_id, name, arguments, effect, status, result, is_error, "
    "started_at, finished_at"
)

# ---------------------------------------------------------------------- writes


def save_rows(db: sqlite3.Connection, rows: Iterable[JournalRecord]) -> None:
    db.executemany(
        f"INSERT OR REPLACE INTO tool_journal ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r.run_id,
                r.agent_id,
                r.activation,
                r.round,
                r.idx,
                r.call_id,
                r.name,
                json.dumps(r.arguments, ensure_ascii=False),
                r.effect,
                r.status,
                r.result,
                int(r.is_error),
                r.started_at,
                r.finished_at,
            )
            for r in rows
        ],
    )


def close(db: sqlite3.Connection, closes: Iterable[tuple[str, str, int]]) -> None:
    db.executemany(
        "UPDATE tool_journal SET open = 0 WHERE run_id = ? AND agent_id = ? AND activation = ?", list(closes)
    )


def save_workspaces(db: sqlite3.Connection, workspaces: Iterable[WorkspaceRecord]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO run_workspaces (run_id, agent_id, path, baseline) VALUES (?, ?, ?, ?)",
        [(w.run_id, w.agent_id, w.path, w.baseline) for w in workspaces],
    )


# ---------------------------------------------------------------------- reads


def _record(row: tuple[object, ...]) -> JournalRecord:
    return JournalRecord(
        run_id=str(row[0]),
        agent_id=str(row[1]),
        activation=int(row[2]),  # type: ignore[call-overload]
        round=int(row[3]),  # type: ignore[call-overload]
        idx=int(row[4]),  # type: ignore[call-overload]
        call_id=str(row[5]),
        name=str(row[6]),
        arguments=json.loads(str(row[7])),
        effect=str(row[8]),
        status=str(row[9]),
        result=None if row[10] is None else str(row[10]),
        is_error=bool(row[11]),
        started_at=float(row[12]),  # type: ignore[arg-type]
        finished_at=None if row[13] is None else float(row[13]),  # type: ignore[arg-type]
    )


def load_open(db: sqlite3.Connection, run_id: str, agent_id: str) -> tuple[int, list[JournalRecord]]:
    """The activation a step's execution journals under, and its open rows (those of a crashed execution)."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM tool_journal WHERE run_id = ? AND agent_id = ? AND open = 1 "
        "ORDER BY activation, round, idx",
        (run_id, agent_id),
    ).fetchall()
    if rows:
        activation = int(rows[-1][2])
        return activation, [_record(r) for r in rows if int(r[2]) == activation]
    last = db.execute(
        "SELECT MAX(activation) FROM tool_journal WHERE run_id = ? AND agent_id = ?", (run_id, agent_id)
    ).fetchone()[0]
    return int(last or 0) + 1, []


def list_run(db: sqlite3.Connection, run_id: str) -> list[JournalRecord]:
    """Every call row of a run (not the model replies), in order."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM tool_journal WHERE run_id = ? AND idx >= 0 ORDER BY agent_id, activation, round, idx",
        (run_id,),
    ).fetchall()
    return [_record(r) for r in rows]


def load_workspaces(db: sqlite3.Connection, run_id: str) -> list[WorkspaceRecord]:
    rows = db.execute(
        "SELECT run_id, agent_id, path, baseline FROM run_workspaces WHERE run_id = ? ORDER BY agent_id", (run_id,)
    ).fetchall()
    return [WorkspaceRecord(str(r[0]), str(r[1]), str(r[2]), r[3]) for r in rows]
