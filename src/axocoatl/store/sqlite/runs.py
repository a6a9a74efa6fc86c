"""Runs and their steps: creating them, fencing and updating them, claiming them, reading them back."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from axocoatl.core.errors import OwnershipLost, StoreError
from axocoatl.store.records import RunPlanWrite, RunRecord, RunUpdate, StepClaim, StepRecord, StepUpdate, step_order
from axocoatl.store.sqlite.sql import where

_STEP_COLUMNS = (
    "run_id, agent_id, position, status, attempts, input, output, error, tokens_in, tokens_out, "
    "started_at, finished_at, completed_seq, context, question, answer, wait_until, reused_from"
)
_RUN_COLUMNS = (
    "run_id, workflow_id, kind, status, input, spec, final_output, error, owner, heartbeat_at, started_at, "
    "finished_at, trigger, parent_run_id, parent_step, relation, depth"
)
# The run row is updated on every commit of the run (its heartbeat fence): its input lives in
# run_inputs, written once, so a large input is never rewritten (runs.input stays '').
_RUN_SELECT = _RUN_COLUMNS.replace("input,", "(SELECT input FROM run_inputs i WHERE i.run_id = runs.run_id),", 1)
_STEP_FIELDS = frozenset(_STEP_COLUMNS.replace(" ", "").split(","))
# A step's input holds its run's input (whole for an entry step, as "Original task: …" after the
# upstream outputs downstream). A large run input is stored once: in the step row it is replaced by
# this marker (input_ref = 1) and put back on read. An input that already contains the marker's
# text is kept verbatim (input_ref = 0), so user text is never mistaken for a reference.
RUN_INPUT_MARK = "\x00axocoatl:run-input\x00"
SHARED_INPUT_CHARS = 1024  # run inputs shorter than this are simply stored again
_STEP_SELECT = f"{_STEP_COLUMNS}, input_ref"
_RUN_FIELDS = frozenset(_RUN_COLUMNS.replace(" ", "").split(","))

# ---------------------------------------------------------------------- writes


def check_fences(db: sqlite3.Connection, fences: Iterable[tuple[str, str, float]]) -> None:
    """Each (run, owner, now): the run is still ours (its heartbeat is touched), or the batch fails."""
    for run_id, owner, now in fences:
        fenced = db.execute(
            "UPDATE runs SET heartbeat_at = ? WHERE run_id = ? AND owner = ?",
            (now, run_id, owner),
        )
        if fenced.rowcount != 1:
            raise OwnershipLost(
                f"run '{run_id}' is no longer owned by this process (another process resumed it)",
                hint="this process stops driving it; see `axocoatl runs show RUN_ID`",
            )


def check_step_claims(db: sqlite3.Connection, claims: Iterable[StepClaim]) -> None:
    """Each claim still holds its step (and no result committed), or the batch fails; a result is set."""
    for claim in claims:
        if claim.result is None:
            held = db.execute(
                "SELECT 1 FROM step_claims WHERE run_id = ? AND step = ? AND token = ? AND result IS NULL",
                (claim.run_id, claim.step, claim.token),
            ).fetchone()
            ok = held is not None
        else:
            # A run that ended meanwhile (cancelled, timed out) takes no more results.
            ok = (
                db.execute(
                    "UPDATE step_claims SET result = ? WHERE run_id = ? AND step = ? AND token = ? AND result IS NULL "
                    "AND EXISTS (SELECT 1 FROM runs WHERE run_id = ? AND status = 'running')",
                    (claim.result, claim.run_id, claim.step, claim.token, claim.run_id),
                ).rowcount
                == 1
            )
        if not ok:
            raise OwnershipLost(
                f"step '{claim.step}' of run '{claim.run_id}' is no longer claimed by this node "
                "(another node took it over, its result committed, or the run ended)",
                hint="this node drops its turn; the node holding the claim commits the step",
            )


def mark_claims_applied(db: sqlite3.Connection, steps: Iterable[tuple[str, str]]) -> None:
    db.executemany("UPDATE step_claims SET applied = 1 WHERE run_id = ? AND step = ?", list(steps))


def claim_step(
    db: sqlite3.Connection, run_id: str, step: str, node: str, token: str, now: float, stale_before: float
) -> str:
    # A claim whose result the driver applied belongs to an earlier activation: the step runs afresh.
    db.execute(
        "INSERT INTO step_claims (run_id, step, node, token, claimed_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, step) DO UPDATE SET node = excluded.node, token = excluded.token, "
        "claimed_at = excluded.claimed_at, result = NULL, applied = 0 WHERE step_claims.applied = 1 "
        "OR (step_claims.result IS NULL AND (step_claims.token = excluded.token OR step_claims.claimed_at < ?))",
        (run_id, step, node, token, now, stale_before),
    )
    row = db.execute("SELECT token, result FROM step_claims WHERE run_id = ? AND step = ?", (run_id, step)).fetchone()
    if row[1] is not None:
        return "done"
    return "claimed" if row[0] == token else "held"


def step_result(db: sqlite3.Connection, run_id: str, step: str) -> tuple[str, str | None] | None:
    """The node of a step's claim and its result not applied yet (None once the driver applied it)."""
    row = db.execute(
        "SELECT node, result, applied FROM step_claims WHERE run_id = ? AND step = ?", (run_id, step)
    ).fetchone()
    if row is None:
        return None
    return str(row[0]), None if row[1] is None or row[2] else str(row[1])


def insert_runs(db: sqlite3.Connection, runs: Iterable[RunRecord]) -> None:
    for run in runs:
        db.execute(
            f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({','.join('?' * 17)})",
            (
                run.run_id,
                run.workflow_id,
                run.kind,
                run.status,
                "",
                json.dumps(run.spec),
                run.final_output,
                run.error,
                run.owner,
                run.heartbeat_at,
                run.started_at,
                run.finished_at,
                run.trigger,
                run.parent_run_id,
                run.parent_step,
                run.relation,
                run.depth,
            ),
        )
        db.execute("INSERT INTO run_inputs (run_id, input) VALUES (?, ?)", (run.run_id, run.input))
        insert_steps(db, run.steps)


def insert_steps(db: sqlite3.Connection, steps: Iterable[StepRecord]) -> None:
    db.executemany(
        f"INSERT INTO steps ({_STEP_COLUMNS}) VALUES ({','.join('?' * 18)})",
        [
            (
                s.run_id,
                s.agent_id,
                s.position,
                s.status,
                s.attempts,
                s.input,
                s.output,
                s.error,
                s.tokens_in,
                s.tokens_out,
                s.started_at,
                s.finished_at,
                s.completed_seq,
                s.context,
                s.question,
                s.answer,
                s.wait_until,
                s.reused_from,
            )
            for s in steps
        ],
    )


def update_steps(db: sqlite3.Connection, updates: Iterable[StepUpdate]) -> None:
    run_inputs: dict[str, str | None] = {}
    for update in updates:
        fields = update.fields
        if "input" in fields:
            fields = {**fields, **_stored_input(db, update.run_id, fields["input"], run_inputs)}
        _update(
            db,
            "steps",
            _STEP_FIELDS | {"input_ref"},
            fields,
            ("run_id", update.run_id),
            ("agent_id", update.agent_id),
            bump=update.bump_attempts,
        )


def _stored_input(
    db: sqlite3.Connection, run_id: str, text: str | None, cache: dict[str, str | None]
) -> dict[str, Any]:
    """The input and input_ref columns for a step input ``text`` (see RUN_INPUT_MARK)."""
    if text is None or len(text) < SHARED_INPUT_CHARS or RUN_INPUT_MARK in text:
        return {"input": text, "input_ref": 0}
    if run_id not in cache:
        row = db.execute("SELECT input FROM run_inputs WHERE run_id = ?", (run_id,)).fetchone()
        cache[run_id] = row[0] if row else None
    task = cache[run_id]
    if task is None or len(task) < SHARED_INPUT_CHARS or task not in text:
        return {"input": text, "input_ref": 0}
    return {"input": text.replace(task, RUN_INPUT_MARK), "input_ref": 1}


def update_runs(db: sqlite3.Connection, updates: Iterable[RunUpdate]) -> None:
    for update in updates:
        _update(db, "runs", _RUN_FIELDS, update.fields, ("run_id", update.run_id))


def _update(
    db: sqlite3.Connection,
    table: str,
    allowed: frozenset[str],
    fields: dict[str, Any],
    *keys: tuple[str, str],
    bump: bool = False,
) -> None:
    unknown = set(fields) - allowed
    if unknown:
        raise StoreError(f"cannot update unknown {table} column(s): {', '.join(sorted(unknown))}")
    sets = [f"{name} = ?" for name in fields]
    if bump:
        sets.append("attempts = attempts + 1")
    if not sets:
        return
    condition = " AND ".join(f"{k} = ?" for k, _ in keys)
    db.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE {condition}", (*fields.values(), *(v for _, v in keys)))


def save_plans(db: sqlite3.Connection, plans: Iterable[RunPlanWrite]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO run_plans (run_id, plan, updated_at) VALUES (?, ?, ?)",
        [(p.run_id, json.dumps(p.plan, ensure_ascii=False), p.ts) for p in plans],
    )


def claim(
    db: sqlite3.Connection, run_id: str, *, owner: str, expected_owner: str | None, expected_status: str, now: float
) -> bool:
    """Compare-and-set on owner and status; the claimed run is ``running`` (a failed one reopens)."""
    cur = db.execute(
        "UPDATE runs SET owner = ?, heartbeat_at = ?, status = 'running', finished_at = NULL, error = NULL "
        "WHERE run_id = ? AND status = ? AND owner IS ?",
        (owner, now, run_id, expected_status, expected_owner),
    )
    if cur.rowcount == 1:
        db.execute("DELETE FROM run_cancels WHERE run_id = ?", (run_id,))  # a resumed run is not cancelled again
    return cur.rowcount == 1


def request_cancel(db: sqlite3.Connection, run_id: str, now: float) -> None:
    db.execute("INSERT OR REPLACE INTO run_cancels (run_id, requested_at) VALUES (?, ?)", (run_id, now))


def cancel_requests(db: sqlite3.Connection, owner: str) -> list[str]:
    """The running runs of ``owner`` that someone asked to cancel."""
    rows = db.execute(
        "SELECT c.run_id FROM run_cancels c JOIN runs r ON r.run_id = c.run_id "
        "WHERE r.owner = ? AND r.status = 'running'",
        (owner,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def heartbeat(db: sqlite3.Connection, owner: str, now: float) -> None:
    db.execute("UPDATE runs SET heartbeat_at = ? WHERE owner = ? AND status = 'running'", (now, owner))


# ---------------------------------------------------------------------- reads


def get_run(db: sqlite3.Connection, run_id: str) -> RunRecord | None:
    row = db.execute(f"SELECT {_RUN_SELECT} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        return None
    run = _run_from_row(row)
    run.steps = [
        _step_from_row(r, run.input)
        for r in db.execute(f"SELECT {_STEP_SELECT} FROM steps WHERE run_id = ? ORDER BY position", (run_id,))
    ]
    run.steps.sort(key=step_order)
    plan = db.execute("SELECT plan FROM run_plans WHERE run_id = ?", (run_id,)).fetchone()
    if plan is not None:
        run.plan = json.loads(plan[0])
    return run


def recent_plans(db: sqlite3.Connection, workflow_id: str, *, besides: str, limit: int) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT p.plan FROM run_plans p JOIN runs r ON r.run_id = p.run_id "
        "WHERE r.workflow_id = ? AND r.run_id != ? ORDER BY r.started_at DESC, r.run_id DESC LIMIT ?",
        (workflow_id, besides, limit),
    ).fetchall()
    return [json.loads(row[0]) for row in rows]


def child_run(db: sqlite3.Connection, parent_run_id: str, parent_step: str) -> RunRecord | None:
    row = db.execute(
        "SELECT run_id FROM runs WHERE parent_run_id = ? AND parent_step = ? AND relation = 'child' "
        "ORDER BY started_at DESC LIMIT 1",
        (parent_run_id, parent_step),
    ).fetchone()
    return get_run(db, row[0]) if row else None


def list_runs(db: sqlite3.Connection, *, limit: int, workflow_id: str | None, status: str | None) -> list[RunRecord]:
    clause, params = where(("workflow_id = ?", workflow_id), ("status = ?", status))
    sql = f"SELECT {_RUN_SELECT} FROM runs{clause} ORDER BY started_at DESC, run_id DESC LIMIT ?"
    runs = [_run_from_row(r) for r in db.execute(sql, (*params, limit))]
    by_id = {run.run_id: run for run in runs}
    if by_id:
        marks = ",".join("?" * len(by_id))
        for r in db.execute(
            f"SELECT {_STEP_SELECT} FROM steps WHERE run_id IN ({marks}) ORDER BY position", tuple(by_id)
        ):
            run = by_id[r[0]]
            run.steps.append(_step_from_row(r, run.input))
    for run in runs:
        run.steps.sort(key=step_order)
    return runs


def ids_starting(db: sqlite3.Connection, prefix: str, limit: int) -> list[str]:
    """The ids of the runs whose id is ``prefix`` or starts with it, newest first (the whole id alone first)."""
    if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (prefix,)).fetchone():
        return [prefix]
    rows = db.execute(
        "SELECT run_id FROM runs WHERE substr(run_id, 1, length(?)) = ? ORDER BY started_at DESC, run_id LIMIT ?",
        (prefix, prefix, limit),
    ).fetchall()
    return [str(r[0]) for r in rows]


def recent_ids(db: sqlite3.Connection, limit: int) -> list[str]:
    return [str(r[0]) for r in db.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT ?", (limit,))]


def _step_from_row(row: tuple[Any, ...], run_input: str) -> StepRecord:
    step = StepRecord(*row[:-1])
    if row[-1] and step.input is not None:
        step.input = step.input.replace(RUN_INPUT_MARK, run_input)
    return step


def _run_from_row(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        workflow_id=row[1],
        kind=row[2],
        status=row[3],
        input=row[4],
        spec=json.loads(row[5]),
        final_output=row[6],
        error=row[7],
        owner=row[8],
        heartbeat_at=row[9],
        started_at=row[10],
        finished_at=row[11],
        trigger=row[12],
        parent_run_id=row[13],
        parent_step=row[14],
        relation=row[15],
        depth=row[16],
    )
