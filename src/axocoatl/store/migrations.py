"""Schema migrations, applied in order; each runs once and is recorded in schema_migrations.

Later layers append their tables here (memory, schedules…), never edit a shipped step.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "runs, steps, sessions, token ledger, event log",
        """
        CREATE TABLE runs (
            run_id        TEXT PRIMARY KEY,
            workflow_id   TEXT NOT NULL,
            kind          TEXT NOT NULL DEFAULT 'workflow',
            status        TEXT NOT NULL,
            input         TEXT NOT NULL,
            spec          TEXT NOT NULL,
            final_output  TEXT,
            error         TEXT,
            owner         TEXT,
            heartbeat_at  REAL,
            started_at    REAL NOT NULL,
            finished_at   REAL
        );
        CREATE INDEX runs_by_start ON runs(started_at);
        CREATE INDEX runs_by_status ON runs(status);

        CREATE TABLE steps (
            run_id         TEXT NOT NULL,
            agent_id       TEXT NOT NULL,
            position       INTEGER NOT NULL,
            status         TEXT NOT NULL,
            attempts       INTEGER NOT NULL DEFAULT 0,
            input          TEXT,
            output         TEXT,
            error          TEXT,
            tokens_in      INTEGER NOT NULL DEFAULT 0,
            tokens_out     INTEGER NOT NULL DEFAULT 0,
            started_at     REAL,
            finished_at    REAL,
            completed_seq  INTEGER,
            PRIMARY KEY (run_id, agent_id)
        ) WITHOUT ROWID;

        CREATE TABLE session_messages (
            agent_id    TEXT NOT NULL,
            seq         INTEGER NOT NULL,
            message     TEXT NOT NULL,
            created_at  REAL NOT NULL,
            PRIMARY KEY (agent_id, seq)
        ) WITHOUT ROWID;

        CREATE TABLE agent_sessions (
            agent_id    TEXT PRIMARY KEY,
            start_seq   INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE token_ledger (
            id        INTEGER PRIMARY KEY,
            agent_id  TEXT NOT NULL,
            run_id    TEXT,
            kind      TEXT NOT NULL,
            provider  TEXT NOT NULL,
            model     TEXT NOT NULL,
            input     INTEGER NOT NULL,
            output    INTEGER NOT NULL,
            ts        REAL NOT NULL
        );
        CREATE INDEX ledger_by_agent_ts ON token_ledger(agent_id, ts);
        CREATE INDEX ledger_by_run ON token_ledger(run_id, agent_id);

        CREATE TABLE events (
            seq          INTEGER PRIMARY KEY,
            event_id     TEXT NOT NULL,
            type         TEXT NOT NULL,
            produced_by  TEXT NOT NULL,
            run_id       TEXT,
            agent_id     TEXT,
            payload      TEXT NOT NULL,
            ts           REAL NOT NULL
        );
        CREATE INDEX events_by_run ON events(run_id, seq);
        """,
    ),
    (
        2,
        "memory: checkpoints, daily log, core blocks, semantic memories",
        """
        CREATE TABLE agent_checkpoints (
            agent_id    TEXT NOT NULL,
            version     INTEGER NOT NULL,
            state       TEXT NOT NULL,
            created_at  REAL NOT NULL,
            PRIMARY KEY (agent_id, version)
        ) WITHOUT ROWID;

        CREATE TABLE daily_log (
            id          INTEGER PRIMARY KEY,
            agent_id    TEXT NOT NULL,
            day         TEXT NOT NULL,
            entry_type  TEXT NOT NULL,
            content     TEXT NOT NULL,
            ts          REAL NOT NULL
        );
        CREATE INDEX daily_log_by_agent_day ON daily_log(agent_id, day, id);
        CREATE INDEX daily_log_by_agent_ts ON daily_log(agent_id, ts);

        CREATE TABLE core_blocks (
            scope        TEXT NOT NULL,
            label        TEXT NOT NULL,
            value        TEXT NOT NULL,
            limit_chars  INTEGER NOT NULL,
            description  TEXT,
            updated_at   REAL NOT NULL,
            PRIMARY KEY (scope, label)
        ) WITHOUT ROWID;

        CREATE TABLE memories (
            agent_id  TEXT NOT NULL,
            seq       INTEGER NOT NULL,
            text      TEXT NOT NULL,
            embedder  TEXT,
            vector    BLOB,
            metadata  TEXT,
            ts        REAL NOT NULL,
            PRIMARY KEY (agent_id, seq)
        );
        """,
    ),
]
