"""An agent's conversation threads: their messages, resets and compaction state."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from axocoatl.core.errors import OwnershipLost
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
        if append.lease is not None:
            check_lease(db, append.agent_id, append.thread, append.lease)
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


# ---------------------------------------------------------------------- leases (shared databases)


def take_lease(db: sqlite3.Connection, agent_id: str, thread: str, token: str, now: float, expires_at: float) -> bool:
    """Take (or renew, for the token that holds it) a thread's lease unless another token holds it unexpired."""
    db.execute(
        "INSERT INTO thread_leases (agent_id, thread, token, expires_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (agent_id, thread) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at "
        "WHERE thread_leases.token = excluded.token OR thread_leases.expires_at <= ?",
        (agent_id, thread, token, expires_at, now),
    )
    row = db.execute("SELECT token FROM thread_leases WHERE agent_id = ? AND thread = ?", (agent_id, thread)).fetchone()
    return row is not None and str(row[0]) == token


def check_lease(db: sqlite3.Connection, agent_id: str, thread: str, token: str) -> None:
    """The token still holds the thread's lease (an expired one nobody took is still its own), or the batch fails."""
    held = db.execute(
        "SELECT 1 FROM thread_leases WHERE agent_id = ? AND thread = ? AND token = ?", (agent_id, thread, token)
    ).fetchone()
    if held is None:
        raise OwnershipLost(
            f"thread '{thread}' of agent '{agent_id}' is no longer leased to this node (its lease expired and "
            "another node took it)",
            hint="the turn is dropped and its messages are not appended; send the message again",
        )


def release_lease(db: sqlite3.Connection, agent_id: str, thread: str, token: str) -> None:
    db.execute("DELETE FROM thread_leases WHERE agent_id = ? AND thread = ? AND token = ?", (agent_id, thread, token))
