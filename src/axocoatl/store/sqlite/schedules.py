"""Schedules: each one's next fire and pause flag, the fires recorded, and the claim that makes a slot fire once.

A slot is claimed by a conditional UPDATE (``next_fire = slot``) in the same write transaction
that inserts the run it starts: however many processes share the database, one commits it
and the others' batches fail with FireTaken, so each slot starts at most one run, and a
claim is never committed without its run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from axocoatl.core.errors import FireTaken
from axocoatl.store.records import ScheduleClaim, ScheduleFire, ScheduleState, schedule_trigger
from axocoatl.store.sqlite.sql import immediate

_FIRE_COLUMNS = "schedule_id, slot, outcome, run_id, detail, at"


def apply_claims(db: sqlite3.Connection, claims: Iterable[ScheduleClaim]) -> None:
    """Inside a batch's transaction: take each claimed slot, or fail the whole batch."""
    for claim in claims:
        if claim.slot is not None:
            if claim.max_concurrent is not None:
                running = count_running(db, schedule_trigger(claim.schedule_id), claim.live_since)
                if running >= claim.max_concurrent:
                    raise FireTaken(
                        f"schedule '{claim.schedule_id}' already has {running} run(s) going",
                        hint=f"raise schedules[{claim.schedule_id}].max_concurrent to let fires overlap",
                        overlap=True,
                    )
            taken = db.execute(
                "UPDATE schedules SET next_fire = ?, run_count = run_count + 1, updated_at = ? "
                "WHERE schedule_id = ? AND next_fire = ? AND paused = 0",
                (claim.next_fire, claim.at, claim.schedule_id, claim.slot),
            )
            if taken.rowcount != 1:
                raise FireTaken(f"the fire of schedule '{claim.schedule_id}' was taken by another process")
            outcome = "started"
        else:
            db.execute(
                "UPDATE schedules SET run_count = run_count + 1, updated_at = ? WHERE schedule_id = ?",
                (claim.at, claim.schedule_id),
            )
            outcome = "manual"
        db.execute(
            f"INSERT INTO schedule_fires ({_FIRE_COLUMNS}) VALUES (?, ?, ?, ?, NULL, ?)",
            (claim.schedule_id, claim.slot, outcome, claim.run_id, claim.at),
        )


def count_running(db: sqlite3.Connection, trigger: str, live_since: float) -> int:
    row = db.execute(
        "SELECT COUNT(*) FROM runs WHERE trigger = ? AND status = 'running' AND heartbeat_at >= ?",
        (trigger, live_since),
    ).fetchone()
    return int(row[0])


def sync(db: sqlite3.Connection, schedule_id: str, fingerprint: str, next_fire: float, now: float) -> ScheduleState:
    """The stored state of a schedule; created (or re-timed, when its timing changed) with ``next_fire``."""
    with immediate(db):
        db.execute(
            "INSERT INTO schedules (schedule_id, fingerprint, next_fire, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (schedule_id) DO UPDATE SET fingerprint = excluded.fingerprint, "
            "next_fire = excluded.next_fire, updated_at = excluded.updated_at "
            "WHERE schedules.fingerprint != excluded.fingerprint",
            (schedule_id, fingerprint, next_fire, now),
        )
        state = get(db, schedule_id)
    assert state is not None
    return state


def skip(
    db: sqlite3.Connection,
    schedule_id: str,
    *,
    expected: float,
    next_fire: float,
    fires: Iterable[tuple[float, str, str]],
    at: float,
) -> bool:
    """Move a schedule from ``expected`` to ``next_fire`` without a run, recording each (slot, outcome,
    detail) of ``fires``; False if another process moved it first."""
    with immediate(db):
        taken = db.execute(
            "UPDATE schedules SET next_fire = ?, updated_at = ? WHERE schedule_id = ? AND next_fire = ?",
            (next_fire, at, schedule_id, expected),
        )
        if taken.rowcount != 1:
            return False
        db.executemany(
            f"INSERT OR IGNORE INTO schedule_fires ({_FIRE_COLUMNS}) VALUES (?, ?, ?, NULL, ?, ?)",
            [(schedule_id, slot, outcome, detail, at) for slot, outcome, detail in fires],
        )
        return True


def set_paused(db: sqlite3.Connection, schedule_id: str, paused: bool, next_fire: float | None, now: float) -> bool:
    with immediate(db):
        if next_fire is None:
            cur = db.execute(
                "UPDATE schedules SET paused = ?, updated_at = ? WHERE schedule_id = ?",
                (int(paused), now, schedule_id),
            )
        else:
            cur = db.execute(
                "UPDATE schedules SET paused = ?, next_fire = ?, updated_at = ? WHERE schedule_id = ?",
                (int(paused), next_fire, now, schedule_id),
            )
        return cur.rowcount == 1


def get(db: sqlite3.Connection, schedule_id: str) -> ScheduleState | None:
    row = db.execute(
        "SELECT schedule_id, fingerprint, next_fire, paused, run_count FROM schedules WHERE schedule_id = ?",
        (schedule_id,),
    ).fetchone()
    return None if row is None else ScheduleState(row[0], row[1], row[2], bool(row[3]), row[4])


def states(db: sqlite3.Connection) -> dict[str, ScheduleState]:
    rows = db.execute("SELECT schedule_id, fingerprint, next_fire, paused, run_count FROM schedules")
    return {r[0]: ScheduleState(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows}


def fires(db: sqlite3.Connection, schedule_id: str | None, limit: int) -> list[ScheduleFire]:
    """The most recent fires, newest first."""
    if schedule_id is None:
        rows = db.execute(f"SELECT {_FIRE_COLUMNS} FROM schedule_fires ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = db.execute(
            f"SELECT {_FIRE_COLUMNS} FROM schedule_fires WHERE schedule_id = ? ORDER BY id DESC LIMIT ?",
            (schedule_id, limit),
        )
    return [ScheduleFire(*r) for r in rows]
