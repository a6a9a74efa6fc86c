"""The event log: appended by write batches, read back newest last."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from axocoatl.store.records import EventRecord


def insert_events(db: sqlite3.Connection, events: Sequence[EventRecord]) -> None:
    if not events:
        return
    db.executemany(
        "INSERT INTO events (event_id, type, produced_by, run_id, agent_id, payload, ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (e.event_id, e.type, e.produced_by, e.run_id, e.agent_id, json.dumps(e.payload, default=str), e.ts)
            for e in events
        ],
    )


def recent_events(db: sqlite3.Connection, *, limit: int, run_id: str | None) -> list[EventRecord]:
    cols = "event_id, type, ts, produced_by, run_id, agent_id, payload"
    if run_id is None:
        rows = db.execute(f"SELECT {cols} FROM events ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
    else:
        rows = db.execute(
            f"SELECT {cols} FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT ?", (run_id, limit)
        ).fetchall()
    return [EventRecord(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in reversed(rows)]
