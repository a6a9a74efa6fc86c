"""An agent's memory: daily log, semantic memories and their vectors, core blocks, checkpoints."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from axocoatl.store.records import CheckpointWrite, CoreBlockRecord, LogEntry, LogRecord, MemoryRecord, MemoryVector

# ---------------------------------------------------------------------- writes


def append_log(db: sqlite3.Connection, entries: Sequence[LogEntry]) -> None:
    if not entries:
        return
    db.executemany(
        "INSERT INTO daily_log (agent_id, day, entry_type, content, ts) VALUES (?, ?, ?, ?, ?)",
        [
            (e.agent_id, e.day, e.entry_type, json.dumps(e.content, ensure_ascii=False, default=str), e.ts)
            for e in entries
        ],
    )


def insert_memories(db: sqlite3.Connection, memories: Iterable[MemoryRecord]) -> None:
    for memory in memories:
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


def set_vectors(db: sqlite3.Connection, vectors: Sequence[MemoryVector]) -> None:
    if not vectors:
        return
    db.executemany(
        "UPDATE memories SET embedder = ?, vector = ? WHERE agent_id = ? AND seq = ?",
        [(v.embedder, v.vector, v.agent_id, v.seq) for v in vectors],
    )


def save_core_blocks(db: sqlite3.Connection, blocks: Sequence[CoreBlockRecord]) -> None:
    if not blocks:
        return
    db.executemany(
        "INSERT INTO core_blocks (scope, label, value, limit_chars, description, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(scope, label) DO UPDATE SET value = excluded.value, "
        "limit_chars = excluded.limit_chars, description = excluded.description, "
        "updated_at = excluded.updated_at",
        [(b.scope, b.label, b.value, b.limit, b.description, b.updated_at) for b in blocks],
    )


def save_checkpoints(db: sqlite3.Connection, checkpoints: Iterable[CheckpointWrite]) -> None:
    """Each one numbered above every stored version (``version`` is set), keeping the newest ``keep``."""
    for checkpoint in checkpoints:
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


# ---------------------------------------------------------------------- reads


def load_checkpoints(db: sqlite3.Connection, agent_id: str) -> list[tuple[int, str]]:
    return [
        (int(r[0]), str(r[1]))
        for r in db.execute(
            "SELECT version, state FROM agent_checkpoints WHERE agent_id = ? ORDER BY version DESC", (agent_id,)
        )
    ]


def load_core_blocks(db: sqlite3.Connection, scopes: Sequence[str]) -> list[CoreBlockRecord]:
    marks = ",".join("?" * len(scopes))
    rows = db.execute(
        "SELECT scope, label, value, limit_chars, description, updated_at FROM core_blocks "
        f"WHERE scope IN ({marks}) ORDER BY scope, label",
        tuple(scopes),
    )
    return [CoreBlockRecord(r[0], r[1], r[2], int(r[3]), r[4], float(r[5])) for r in rows]


def has_more_memories_than(db: sqlite3.Connection, agent_id: str, count: int) -> bool:
    """A bounded probe: reads at most ``count`` index entries."""
    probe = "SELECT 1 FROM memories WHERE agent_id = ? LIMIT 1 OFFSET ?"
    return db.execute(probe, (agent_id, count)).fetchone() is not None


def load_memories(db: sqlite3.Connection, agent_id: str) -> list[MemoryRecord]:
    rows = db.execute(
        "SELECT seq, text, ts, embedder, vector, metadata FROM memories WHERE agent_id = ? ORDER BY seq", (agent_id,)
    )
    return [
        MemoryRecord(agent_id, int(r[0]), r[1], float(r[2]), r[3], r[4], json.loads(r[5]) if r[5] else None)
        for r in rows
    ]


def read_log(
    db: sqlite3.Connection,
    agent_id: str,
    *,
    first_day: str | None,
    last_day: str | None,
    since: float | None,
    entry_types: tuple[str, ...],
    limit: int,
) -> tuple[list[LogRecord], int]:
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
    entries = [LogRecord(int(r[0]), agent_id, float(r[1]), r[2], r[3], json.loads(r[4])) for r in reversed(rows)]
    return entries, int(total)
