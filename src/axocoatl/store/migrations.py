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
    (
        3,
        "named threads (one session each), step contexts for exact replay",
        """
        CREATE TABLE thread_messages (
            agent_id    TEXT NOT NULL,
            thread      TEXT NOT NULL,
            seq         INTEGER NOT NULL,
            message     TEXT NOT NULL,
            created_at  REAL NOT NULL,
            PRIMARY KEY (agent_id, thread, seq)
        ) WITHOUT ROWID;

        CREATE TABLE threads (
            agent_id          TEXT NOT NULL,
            thread            TEXT NOT NULL,
            start_seq         INTEGER NOT NULL DEFAULT 0,
            summary           TEXT NOT NULL DEFAULT '',
            through_seq       INTEGER NOT NULL DEFAULT 0,
            archived_through  INTEGER NOT NULL DEFAULT 0,
            updated_at        REAL,
            PRIMARY KEY (agent_id, thread)
        ) WITHOUT ROWID;

        INSERT INTO thread_messages (agent_id, thread, seq, message, created_at)
            SELECT agent_id, 'main', seq, message, created_at FROM session_messages;
        INSERT INTO threads (agent_id, thread, start_seq)
            SELECT agent_id, 'main', 0 FROM session_messages
            UNION SELECT agent_id, 'main', 0 FROM agent_sessions;
        UPDATE threads SET start_seq = COALESCE(
            (SELECT s.start_seq FROM agent_sessions s WHERE s.agent_id = threads.agent_id), 0);
        UPDATE threads SET
            summary = COALESCE((SELECT json_extract(c.state, '$.compaction.summary') FROM agent_checkpoints c
                WHERE c.agent_id = threads.agent_id ORDER BY c.version DESC LIMIT 1), ''),
            through_seq = COALESCE((SELECT json_extract(c.state, '$.compaction.through_seq') FROM agent_checkpoints c
                WHERE c.agent_id = threads.agent_id ORDER BY c.version DESC LIMIT 1), 0),
            archived_through = COALESCE((SELECT json_extract(c.state, '$.compaction.archived_through')
                FROM agent_checkpoints c WHERE c.agent_id = threads.agent_id ORDER BY c.version DESC LIMIT 1), 0);
        DROP TABLE session_messages;
        DROP TABLE agent_sessions;

        ALTER TABLE steps ADD COLUMN context TEXT;
        """,
    ),
    (
        4,
        "token reservations: shared budgets checked inside a transaction",
        """
        CREATE TABLE token_reservations (
            id          INTEGER PRIMARY KEY,
            agent_id    TEXT NOT NULL,
            run_id      TEXT,
            tokens      INTEGER NOT NULL,
            expires_at  REAL NOT NULL
        );
        CREATE INDEX reservations_by_agent ON token_reservations(agent_id, expires_at);
        """,
    ),
    (
        5,
        "tool-call journal (replayed by a resumed step), run workspaces",
        """
        CREATE TABLE tool_journal (
            run_id       TEXT NOT NULL,
            agent_id     TEXT NOT NULL,
            activation   INTEGER NOT NULL,
            round        INTEGER NOT NULL,
            idx          INTEGER NOT NULL,
            call_id      TEXT NOT NULL,
            name         TEXT NOT NULL,
            arguments    TEXT NOT NULL,
            effect       TEXT NOT NULL,
            status       TEXT NOT NULL,
            result       TEXT,
            is_error     INTEGER NOT NULL DEFAULT 0,
            started_at   REAL NOT NULL,
            finished_at  REAL,
            open         INTEGER NOT NULL DEFAULT 1,
            PRIMARY KEY (run_id, agent_id, activation, round, idx)
        ) WITHOUT ROWID;

        CREATE TABLE run_workspaces (
            run_id    TEXT NOT NULL,
            agent_id  TEXT NOT NULL,
            path      TEXT NOT NULL,
            baseline  TEXT,
            PRIMARY KEY (run_id, agent_id)
        ) WITHOUT ROWID;
        """,
    ),
    (
        6,
        "automations: what triggered each run, schedule state and fires",
        """
        ALTER TABLE runs ADD COLUMN trigger TEXT NOT NULL DEFAULT 'manual';
        CREATE INDEX runs_by_trigger ON runs(trigger, status);

        CREATE TABLE schedules (
            schedule_id  TEXT PRIMARY KEY,
            fingerprint  TEXT NOT NULL,
            next_fire    REAL NOT NULL,
            paused       INTEGER NOT NULL DEFAULT 0,
            run_count    INTEGER NOT NULL DEFAULT 0,
            updated_at   REAL NOT NULL
        );

        CREATE TABLE schedule_fires (
            id           INTEGER PRIMARY KEY,
            schedule_id  TEXT NOT NULL,
            slot         REAL,
            outcome      TEXT NOT NULL,
            run_id       TEXT,
            detail       TEXT,
            at           REAL NOT NULL,
            UNIQUE (schedule_id, slot)
        );
        CREATE INDEX schedule_fires_by_schedule ON schedule_fires(schedule_id, id);
        """,
    ),
    (
        9,
        "a run's input is stored once, apart from the run row (its steps refer to it)",
        """
        CREATE TABLE run_inputs (
            run_id  TEXT PRIMARY KEY,
            input   TEXT NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO run_inputs (run_id, input) SELECT run_id, input FROM runs;
        UPDATE runs SET input = '';
        ALTER TABLE steps ADD COLUMN input_ref INTEGER NOT NULL DEFAULT 0;
        """,
    ),
]
