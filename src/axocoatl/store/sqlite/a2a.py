"""A2A tasks: one row per task, the protocol's Task as bytes beside the columns it is found by."""

from __future__ import annotations

import sqlite3
from typing import Any

from axocoatl.store.records import A2APushRecord, A2ATaskRecord
from axocoatl.store.sqlite.sql import immediate

_COLUMNS = "task_id, target, context_id, owner, state, updated_at, data, run_id, thread"


def _record(row: tuple[Any, ...]) -> A2ATaskRecord:
    task_id, target, context_id, owner, state, updated_at, data, run_id, thread = row
    return A2ATaskRecord(task_id, target, context_id, owner, state, float(updated_at), bytes(data), run_id, thread)


def save(db: sqlite3.Connection, record: A2ATaskRecord) -> None:
    """Insert or replace a task; a run or thread once recorded is kept when a later save lacks it."""
    with immediate(db):
        db.execute(
            f"INSERT INTO a2a_tasks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (task_id) DO UPDATE SET context_id = excluded.context_id, state = excluded.state, "
            "updated_at = excluded.updated_at, data = excluded.data, "
            "run_id = COALESCE(excluded.run_id, a2a_tasks.run_id), "
            "thread = COALESCE(excluded.thread, a2a_tasks.thread)",
            (
                record.task_id,
                record.target,
                record.context_id,
                record.owner,
                record.state,
                record.updated_at,
                record.data,
                record.run_id,
                record.thread,
            ),
        )


def get(db: sqlite3.Connection, target: str, task_id: str) -> A2ATaskRecord | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM a2a_tasks WHERE task_id = ? AND target = ?", (task_id, target)).fetchone()
    return None if row is None else _record(row)


def list_tasks(db: sqlite3.Connection, target: str, owner: str) -> list[A2ATaskRecord]:
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM a2a_tasks WHERE target = ? AND owner = ? ORDER BY updated_at DESC", (target, owner)
    ).fetchall()
    return [_record(row) for row in rows]


def delete(db: sqlite3.Connection, target: str, task_id: str) -> None:
    with immediate(db):
        db.execute("DELETE FROM a2a_tasks WHERE task_id = ? AND target = ?", (task_id, target))


def save_push(db: sqlite3.Connection, record: A2APushRecord) -> None:
    with immediate(db):
        db.execute(
            "INSERT OR REPLACE INTO a2a_push_configs (task_id, config_id, owner, data) VALUES (?, ?, ?, ?)",
            (record.task_id, record.config_id, record.owner, record.data),
        )


def push_configs(db: sqlite3.Connection, task_id: str) -> list[A2APushRecord]:
    rows = db.execute(
        "SELECT task_id, config_id, owner, data FROM a2a_push_configs WHERE task_id = ? ORDER BY config_id", (task_id,)
    ).fetchall()
    return [A2APushRecord(t, c, o, bytes(d)) for t, c, o, d in rows]


def delete_push(db: sqlite3.Connection, task_id: str, owner: str, config_id: str | None) -> None:
    with immediate(db):
        if config_id is None:
            db.execute("DELETE FROM a2a_push_configs WHERE task_id = ? AND owner = ?", (task_id, owner))
        else:
            db.execute(
                "DELETE FROM a2a_push_configs WHERE task_id = ? AND owner = ? AND config_id = ?",
                (task_id, owner, config_id),
            )
