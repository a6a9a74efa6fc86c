"""Consumers of the event log (webhooks, proactive entries): their cursors, the webhook outbox and its
claims, and the receipts of signed inbound requests.

A consumer (one webhook) reads the event log from its cursor; the deliveries it derives and
the cursor's move commit in one transaction, so an event is enqueued once however many
processes route at the same time, and a crash never loses one. A delivery is claimed by a
conditional update (a lease): while one process attempts it no other can, and a lease left by
a killed process runs out, so the delivery is attempted again by whoever comes next. A proactive
entry moves its cursor in the batch that inserts the run an event started (``apply_cursor_claims``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence

from axocoatl.core.errors import FireTaken
from axocoatl.store.records import CursorClaim, DeliveryRecord, DeliveryResult, EventRecord, LoggedEvent, NewDelivery
from axocoatl.store.sqlite.sql import immediate

_COLUMNS = (
    "id, delivery_id, webhook, event_seq, event_id, event_type, body, status, attempts, next_attempt_at, "
    "last_status, last_error, created_at, finished_at"
)


def _record(row: Sequence[object]) -> DeliveryRecord:
    return DeliveryRecord(*row)  # type: ignore[arg-type]


def prime(db: sqlite3.Connection, consumers: Sequence[str]) -> None:
    """Start each new consumer at the end of the log: a webhook added today is not sent last year's events."""
    with immediate(db):
        db.executemany(
            "INSERT OR IGNORE INTO event_cursors (consumer, seq) SELECT ?, COALESCE(MAX(seq), 0) FROM events",
            [(c,) for c in consumers],
        )


def route(
    db: sqlite3.Connection,
    consumer: str,
    derive: Callable[[list[LoggedEvent]], list[NewDelivery]],
    now: float,
    limit: int,
) -> int:
    """Move ``consumer`` over the next events of the log, enqueueing what ``derive`` makes of them;
    returns how many events it read (``limit``: more may follow)."""
    if _caught_up(db, consumer):
        return 0  # the common case, every poll: no write transaction
    with immediate(db):
        row = db.execute("SELECT seq FROM event_cursors WHERE consumer = ?", (consumer,)).fetchone()
        if row is None:
            db.execute(
                "INSERT INTO event_cursors (consumer, seq) SELECT ?, COALESCE(MAX(seq), 0) FROM events", (consumer,)
            )
            return 0
        logged = _after(db, row[0], limit)
        if not logged:
            return 0
        db.executemany(
            "INSERT OR IGNORE INTO deliveries (delivery_id, webhook, event_seq, event_id, event_type, body, "
            "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (d.delivery_id, d.webhook, d.event_seq, d.event_id, d.event_type, d.body, now, now)
                for d in derive(logged)
            ],
        )
        db.execute("UPDATE event_cursors SET seq = ? WHERE consumer = ?", (logged[-1].seq, consumer))
        return len(logged)


def _after(db: sqlite3.Connection, seq: int, limit: int) -> list[LoggedEvent]:
    rows = db.execute(
        "SELECT e.seq, e.event_id, e.type, e.ts, e.produced_by, e.run_id, e.agent_id, e.payload, r.workflow_id, "
        "r.trigger FROM events e LEFT JOIN runs r ON r.run_id = e.run_id WHERE e.seq > ? ORDER BY e.seq LIMIT ?",
        (seq, limit),
    ).fetchall()
    return [
        LoggedEvent(r[0], EventRecord(r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7])), r[8], r[9]) for r in rows
    ]


def _caught_up(db: sqlite3.Connection, consumer: str) -> bool:
    row = db.execute(
        "SELECT c.seq >= (SELECT COALESCE(MAX(seq), 0) FROM events) FROM event_cursors c WHERE c.consumer = ?",
        (consumer,),
    ).fetchone()
    return row is not None and bool(row[0])


def events_after(db: sqlite3.Connection, consumer: str, limit: int) -> tuple[int, list[LoggedEvent]]:
    """A consumer's cursor (started at the end of the log if new) and the events after it."""
    row = db.execute("SELECT seq FROM event_cursors WHERE consumer = ?", (consumer,)).fetchone()
    if row is None:
        with immediate(db):
            db.execute(
                "INSERT OR IGNORE INTO event_cursors (consumer, seq) SELECT ?, COALESCE(MAX(seq), 0) FROM events",
                (consumer,),
            )
            row = db.execute("SELECT seq FROM event_cursors WHERE consumer = ?", (consumer,)).fetchone()
    cursor = int(row[0])
    return cursor, _after(db, cursor, limit)


def advance(db: sqlite3.Connection, claim: CursorClaim) -> bool:
    """Move a cursor over events that started nothing; False if another process moved it first."""
    with immediate(db):
        cur = db.execute(
            "UPDATE event_cursors SET seq = ? WHERE consumer = ? AND seq = ?",
            (claim.seq, claim.consumer, claim.expected),
        )
        return cur.rowcount == 1


def apply_cursor_claims(db: sqlite3.Connection, claims: Sequence[CursorClaim]) -> None:
    """Inside a batch's transaction: move each cursor, or fail the whole batch."""
    for claim in claims:
        cur = db.execute(
            "UPDATE event_cursors SET seq = ? WHERE consumer = ? AND seq = ?",
            (claim.seq, claim.consumer, claim.expected),
        )
        if cur.rowcount != 1:
            raise FireTaken(f"the events of '{claim.consumer}' were taken by another process")


def last_started(db: sqlite3.Connection, trigger: str) -> float | None:
    """When the latest run with this trigger started."""
    row = db.execute("SELECT MAX(started_at) FROM runs WHERE trigger = ?", (trigger,)).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def _due(webhooks: Sequence[str], row_id: int | None) -> str:
    marks = ", ".join("?" * len(webhooks))
    due = (
        f"status = 'pending' AND next_attempt_at <= ? AND webhook IN ({marks}) "
        "AND (claimed_until IS NULL OR claimed_until < ?)"
    )
    return due if row_id is None else f"{due} AND id = ?"


def due(db: sqlite3.Connection, webhooks: Sequence[str], now: float, limit: int) -> list[DeliveryRecord]:
    """Up to ``limit`` deliveries of ``webhooks`` due now that nobody holds (cluster mode publishes them)."""
    if not webhooks:
        return []
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM deliveries WHERE {_due(webhooks, None)} ORDER BY next_attempt_at, id LIMIT ?",
        (now, *webhooks, now, limit),
    )
    return [_record(r) for r in rows]


def claim(
    db: sqlite3.Connection,
    webhooks: Sequence[str],
    owner: str,
    now: float,
    lease_until: float,
    limit: int,
    row_id: int | None = None,
) -> list[DeliveryRecord]:
    """Take up to ``limit`` due deliveries of ``webhooks`` (only ``row_id``, if given) for ``owner`` until
    ``lease_until``."""
    if not webhooks:
        return []
    only = () if row_id is None else (row_id,)
    with immediate(db):
        ids = [
            r[0]
            for r in db.execute(
                f"SELECT id FROM deliveries WHERE {_due(webhooks, row_id)} ORDER BY next_attempt_at, id LIMIT ?",
                (now, *webhooks, now, *only, limit),
            )
        ]
        if not ids:
            return []
        id_marks = ", ".join("?" * len(ids))
        db.execute(
            f"UPDATE deliveries SET claimed_by = ?, claimed_until = ? WHERE id IN ({id_marks})",
            (owner, lease_until, *ids),
        )
        rows = db.execute(f"SELECT {_COLUMNS} FROM deliveries WHERE id IN ({id_marks}) ORDER BY id", ids)
        return [_record(r) for r in rows]


def finish(db: sqlite3.Connection, row_id: int, owner: str, result: DeliveryResult, now: float) -> bool:
    """Record one attempt of a delivery ``owner`` claimed; False if its lease was lost meanwhile."""
    status = "pending" if result.outcome == "retry" else result.outcome
    with immediate(db):
        cur = db.execute(
            "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, last_status = ?, "
            "last_error = ?, finished_at = ?, claimed_by = NULL, claimed_until = NULL "
            "WHERE id = ? AND claimed_by = ? AND status = 'pending'",
            (
                status,
                result.retry_at if result.retry_at is not None else now,
                result.status_code,
                result.error,
                None if status == "pending" else now,
                row_id,
                owner,
            ),
        )
        return cur.rowcount == 1


def release(db: sqlite3.Connection, row_ids: Sequence[int], owner: str) -> None:
    """Give back claims not attempted (the process is closing)."""
    with immediate(db):
        db.executemany(
            "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?",
            [(i, owner) for i in row_ids],
        )


def listing(db: sqlite3.Connection, status: str | None, limit: int) -> list[DeliveryRecord]:
    """The most recent deliveries (of one status), newest first."""
    if status is None:
        rows = db.execute(f"SELECT {_COLUMNS} FROM deliveries ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE status = ? ORDER BY id DESC LIMIT ?", (status, limit)
        )
    return [_record(r) for r in rows]


def find(db: sqlite3.Connection, delivery_id: str) -> list[DeliveryRecord]:
    """The deliveries whose id is ``delivery_id`` or starts with it."""
    pattern = delivery_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM deliveries WHERE delivery_id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 5", (pattern,)
    )
    return [_record(r) for r in rows]


def redeliver(db: sqlite3.Connection, row_id: int, now: float) -> DeliveryRecord | None:
    """Queue a delivery again from its first attempt (a dead letter, or a delivered one sent again)."""
    with immediate(db):
        db.execute(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, finished_at = NULL, "
            "claimed_by = NULL, claimed_until = NULL WHERE id = ?",
            (now, row_id),
        )
        row = db.execute(f"SELECT {_COLUMNS} FROM deliveries WHERE id = ?", (row_id,)).fetchone()
    return None if row is None else _record(row)


def next_due(db: sqlite3.Connection, webhooks: Sequence[str]) -> float | None:
    """When the earliest pending delivery of ``webhooks`` comes due (None: nothing is pending)."""
    if not webhooks:
        return None
    marks = ", ".join("?" * len(webhooks))
    row = db.execute(
        f"SELECT MIN(MAX(next_attempt_at, COALESCE(claimed_until, 0))) FROM deliveries "
        f"WHERE status = 'pending' AND webhook IN ({marks})",
        tuple(webhooks),
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def take_receipt(db: sqlite3.Connection, trigger: str, digest: str, now: float, forget_before: float) -> bool:
    """Record a signed inbound request once; False if it was seen before (a replay). Old receipts are
    forgotten: their timestamps are outside the trigger's window, so they are refused anyway."""
    with immediate(db):
        db.execute("DELETE FROM trigger_receipts WHERE trigger_name = ? AND at < ?", (trigger, forget_before))
        cur = db.execute(
            "INSERT OR IGNORE INTO trigger_receipts (trigger_name, digest, at) VALUES (?, ?, ?)", (trigger, digest, now)
        )
        return cur.rowcount == 1


def drop_receipt(db: sqlite3.Connection, trigger: str, digest: str) -> None:
    with immediate(db):
        db.execute("DELETE FROM trigger_receipts WHERE trigger_name = ? AND digest = ?", (trigger, digest))
