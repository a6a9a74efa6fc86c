"""An agent's conversation threads: their messages, resets and compaction state."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from axocoatl.core.messages import ChatMessage
from axocoatl.store.records import SessionAppend, ThreadRecord, ThreadState

# ---------------------------------------------------------------------- writes


def reset_threads(db: sqlite3.Connection, resets: Iterable[tuple[str, str]]) -> None:
    for agent_id, thread in resets:
        # The thread starts after its last message; the compaction summary was of the old one.
        db.execute(
            "INSERT INTO threads (agent_id, thread, start_seq) VALUES (?, ?, ?) "
            "ON CONFLICT(agent_id, thread) DO UPDATE SET start_seq = excluded.start_seq, summary = '', "
            "through_seq = 0, archived_through = 0",
            (agent_id, thread, next_message_seq(db, agent_id, thread)),
        )


def append_messages(db: sqlite3.Connection, appends: Iterable[SessionAppend]) -> None:
    """Each append's messages after the thread's last one; its ``first_seq`` says where they went."""
    for append in appends:
        append.first_seq = next_message_seq(db, append.agent_id, append.thread)
        db.executemany(
            "INSERT INTO thread_messages (agent_id, thread, seq, message, created_at) VALUES (?, ?, ?, ?, ?)",
            [
                (append.agent_id, append.thread, append.first_seq + i, m.to_json(), append.ts)
                for i, m in enumerate(append.messages)
            ],
        )


def save_states(db: sqlite3.Connection, states: Iterable[ThreadState]) -> None:
    for state in states:
        db.execute(
            "INSERT INTO threads (agent_id, thread, summary, through_seq, archived_through, updated_at) "
            "VALUES (?, ?, ?, ?, ?, strftime('%s','now')) ON CONFLICT(agent_id, thread) DO UPDATE SET "
            "summary = excluded.summary, through_seq = excluded.through_seq, "
            "archived_through = excluded.archived_through, updated_at = excluded.updated_at",
            (state.agent_id, state.thread, state.summary, state.through_seq, state.archived_through),
        )


# ---------------------------------------------------------------------- reads


def next_message_seq(db: sqlite3.Connection, agent_id: str, thread: str) -> int:
    """The seq of a thread's next message: after its last one, and never before its reset point."""
    row = db.execute(
        "SELECT (SELECT MAX(seq) FROM thread_messages WHERE agent_id = ? AND thread = ?), "
        "(SELECT start_seq FROM threads WHERE agent_id = ? AND thread = ?)",
        (agent_id, thread, agent_id, thread),
    ).fetchone()
    last, start = row
    return max(int(start or 0), (int(last) + 1) if last is not None else 0)


def load_session(db: sqlite3.Connection, agent_id: str, thread: str) -> ThreadRecord:
    row = db.execute(
        "SELECT start_seq, summary, through_seq, archived_through FROM threads WHERE agent_id = ? AND thread = ?",
        (agent_id, thread),
    ).fetchone()
    start, summary, through, archived = row if row else (0, "", 0, 0)
    rows = db.execute(
        "SELECT message FROM thread_messages WHERE agent_id = ? AND thread = ? AND seq >= ? ORDER BY seq",
        (agent_id, thread, start),
    ).fetchall()
    next_seq = next_message_seq(db, agent_id, thread)
    state = ThreadState(agent_id, thread, summary, int(through), int(archived))
    return ThreadRecord(agent_id, thread, [ChatMessage.from_json(r[0]) for r in rows], next_seq, state)


def list_threads(db: sqlite3.Connection, agent_id: str) -> list[tuple[str, int, float | None]]:
    rows = db.execute(
        "SELECT m.thread, COUNT(*), MAX(m.created_at) FROM thread_messages m "
        "LEFT JOIN threads t ON t.agent_id = m.agent_id AND t.thread = m.thread "
        "WHERE m.agent_id = ? AND m.seq >= COALESCE(t.start_seq, 0) GROUP BY m.thread ORDER BY m.thread",
        (agent_id,),
    ).fetchall()
    return [(str(r[0]), int(r[1]), r[2]) for r in rows]
