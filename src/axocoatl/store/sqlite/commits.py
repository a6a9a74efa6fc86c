"""How write batches commit: each batch's writes in a fixed order, one or many batches a transaction."""

from __future__ import annotations

import sqlite3

from axocoatl.store.records import WriteBatch
from axocoatl.store.sqlite import deliveries, events, journal, memory, runs, schedules, threads, tokens
from axocoatl.store.sqlite.sql import immediate


def apply(db: sqlite3.Connection, batch: WriteBatch) -> None:
    """The statements of one batch, inside the caller's transaction.

    The order matters: the fences and claims first (a process that lost the run, or the schedule's
    slot, writes nothing), new runs before the updates of their steps, a thread's reset before
    the messages appended after it.
    """
    runs.check_fences(db, batch.fences)
    runs.check_step_claims(db, batch.step_claims)
    runs.mark_claims_applied(db, batch.claims_applied)
    schedules.apply_claims(db, batch.schedule_claims)  # before the run it starts: no run without its claim
    deliveries.apply_cursor_claims(db, batch.cursor_claims)
    runs.insert_runs(db, batch.new_runs)
    runs.insert_steps(db, batch.new_steps)
    threads.reset_threads(db, batch.session_resets)
    threads.append_messages(db, batch.session)
    threads.save_states(db, batch.thread_states)
    tokens.record_spend(db, batch.ledger)
    events.insert_events(db, batch.events)
    runs.update_steps(db, batch.step_updates)
    runs.update_runs(db, batch.run_updates)
    memory.append_log(db, batch.log_entries)
    memory.insert_memories(db, batch.memories)
    memory.set_vectors(db, batch.memory_vectors)
    memory.save_core_blocks(db, batch.core_blocks)
    memory.save_checkpoints(db, batch.checkpoints)
    journal.save_rows(db, batch.journal)
    journal.close(db, batch.journal_closes)
    journal.save_workspaces(db, batch.workspaces)
    runs.save_plans(db, batch.run_plans)


def write(db: sqlite3.Connection, batch: WriteBatch) -> None:
    """One batch, one transaction."""
    with immediate(db):
        apply(db, batch)


def write_group(db: sqlite3.Connection, batches: list[WriteBatch]) -> list[BaseException | None]:
    """Several batches, one transaction (one fsync); each batch in a savepoint, so a failing
    batch is rolled back alone and the others commit. Returns each batch's error or None."""
    if len(batches) == 1:
        write(db, batches[0])
        return [None]
    outcomes: list[BaseException | None] = []
    with immediate(db):
        for batch in batches:
            db.execute("SAVEPOINT batch")
            try:
                apply(db, batch)
            except Exception as exc:
                db.execute("ROLLBACK TO batch")
                outcomes.append(exc)
            else:
                outcomes.append(None)
            db.execute("RELEASE batch")
    return outcomes
