"""Approval requests and the decisions saved by scope.

A request is decided once: the decision is a compare-and-set on ``status = 'pending'``, so a
person, a saved decision and the timeout racing (in several processes) end with one outcome.
A decision saved by scope is written in the same transaction as the request it answered.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from axocoatl.store.records import ApprovalRecord, ApprovalRule
from axocoatl.store.sqlite.sql import immediate, where

_COLUMNS = (
    "approval_id, key, kind, agent_id, source, tool, arguments, message, run_id, thread, status, scope, reason, "
    "decided_by, created_at, expires_at, decided_at"
)
_RULE_COLUMNS = "agent_id, source, tool, scope, decision, reason, approval_id, recorded_at"


def _record(row: tuple[Any, ...]) -> ApprovalRecord:
    return ApprovalRecord(
        approval_id=row[0],
        key=row[1],
        kind=row[2],
        agent_id=row[3],
        source=row[4],
        tool=row[5],
        arguments=json.loads(row[6]),
        message=row[7],
        run_id=row[8],
        thread=row[9],
        status=row[10],
        scope=row[11],
        reason=row[12],
        decided_by=row[13],
        created_at=row[14],
        expires_at=row[15],
        decided_at=row[16],
    )


def _rule(row: tuple[Any, ...]) -> ApprovalRule:
    return ApprovalRule(
        agent_id=row[0],
        source=row[1],
        tool=row[2],
        scope=row[3],
        decision=row[4],
        reason=row[5],
        approval_id=row[6],
        recorded_at=row[7],
    )


def add(db: sqlite3.Connection, r: ApprovalRecord) -> ApprovalRecord:
    """Insert a request; one with the same ``key`` already stored is returned instead."""
    with immediate(db):
        if r.key is not None:
            found = db.execute(f"SELECT {_COLUMNS} FROM approvals WHERE key = ?", (r.key,)).fetchone()
            if found is not None:
                return _record(found)
        db.execute(
            f"INSERT INTO approvals ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.approval_id,
                r.key,
                r.kind,
                r.agent_id,
                r.source,
                r.tool,
                json.dumps(r.arguments, ensure_ascii=False, default=str),
                r.message,
                r.run_id,
                r.thread,
                r.status,
                r.scope,
                r.reason,
                r.decided_by,
                r.created_at,
                r.expires_at,
                r.decided_at,
            ),
        )
    return r


def get(db: sqlite3.Connection, approval_id: str) -> ApprovalRecord | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM approvals WHERE approval_id = ?", (approval_id,)).fetchone()
    return None if row is None else _record(row)


def list_requests(
    db: sqlite3.Connection, *, status: str | None, run_id: str | None, limit: int
) -> list[ApprovalRecord]:
    """Newest first."""
    clause, params = where(("status = ?", status), ("run_id = ?", run_id))
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM approvals{clause} ORDER BY created_at DESC, approval_id LIMIT ?", (*params, limit)
    ).fetchall()
    return [_record(r) for r in rows]


def decide(
    db: sqlite3.Connection,
    approval_id: str,
    *,
    allowed: bool,
    scope: str,
    reason: str | None,
    decided_by: str,
    now: float,
) -> tuple[ApprovalRecord | None, bool]:
    """Decide a pending request (and save the decision by ``scope``): (the row, whether this call decided it)."""
    with immediate(db):
        changed = db.execute(
            "UPDATE approvals SET status = ?, scope = ?, reason = ?, decided_by = ?, decided_at = ? "
            "WHERE approval_id = ? AND status = 'pending'",
            ("allowed" if allowed else "denied", scope, reason, decided_by, now, approval_id),
        ).rowcount
        record = get(db, approval_id)
        if changed and record is not None and scope != "once":
            agent = record.agent_id if scope in ("agent_tool", "agent_source") else ""
            tool = record.tool if scope == "agent_tool" else ""
            db.execute(
                f"INSERT OR REPLACE INTO approval_decisions ({_RULE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (agent, record.source, tool, scope, "allow" if allowed else "deny", reason, approval_id, now),
            )
    return record, bool(changed)


def rule_for(db: sqlite3.Connection, agent_id: str, source: str, tool: str) -> ApprovalRule | None:
    """The saved decision that applies: the most specific (agent counts 2, tool 1); deny wins a tie."""
    rows = db.execute(
        f"SELECT {_RULE_COLUMNS} FROM approval_decisions WHERE source = ? AND agent_id IN (?, '') AND tool IN (?, '')",
        (source, agent_id, tool),
    ).fetchall()
    rules = [_rule(r) for r in rows]
    if not rules:
        return None
    return max(rules, key=lambda r: (r.specificity, r.decision == "deny"))
