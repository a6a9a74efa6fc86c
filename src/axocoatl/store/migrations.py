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
        7,
        "approval: requests that park a tool call, and decisions saved by scope",
        """
        CREATE TABLE approvals (
            approval_id  TEXT PRIMARY KEY,
            key          TEXT UNIQUE,
            kind         TEXT NOT NULL DEFAULT 'tool_call',
            agent_id     TEXT NOT NULL,
            source       TEXT NOT NULL,
            tool         TEXT NOT NULL,
            arguments    TEXT NOT NULL,
            message      TEXT NOT NULL DEFAULT '',
            run_id       TEXT,
            thread       TEXT,
            status       TEXT NOT NULL,
            scope        TEXT,
            reason       TEXT,
            decided_by   TEXT,
            created_at   REAL NOT NULL,
            expires_at   REAL NOT NULL,
            decided_at   REAL
        );
        CREATE INDEX approvals_by_status ON approvals(status, created_at);
        CREATE INDEX approvals_by_run ON approvals(run_id);

        CREATE TABLE approval_decisions (
            agent_id     TEXT NOT NULL,
            source       TEXT NOT NULL,
            tool         TEXT NOT NULL,
            scope        TEXT NOT NULL,
            decision     TEXT NOT NULL,
            reason       TEXT,
            approval_id  TEXT,
            recorded_at  REAL NOT NULL,
            PRIMARY KEY (agent_id, source, tool)
        ) WITHOUT ROWID;
        """,
    ),
    (
        8,
        "webhooks and event consumers: each consumer's place in the event log, the delivery outbox, "
        "inbound trigger receipts",
        """
        CREATE TABLE event_cursors (
            consumer  TEXT PRIMARY KEY,
            seq       INTEGER NOT NULL
        );

        CREATE TABLE deliveries (
            id               INTEGER PRIMARY KEY,
            delivery_id      TEXT NOT NULL UNIQUE,
            webhook          TEXT NOT NULL,
            event_seq        INTEGER NOT NULL,
            event_id         TEXT NOT NULL,
            event_type       TEXT NOT NULL,
            body             TEXT NOT NULL,
            status           TEXT NOT NULL DEFAULT 'pending',
            attempts         INTEGER NOT NULL DEFAULT 0,
            next_attempt_at  REAL NOT NULL,
            claimed_by       TEXT,
            claimed_until    REAL,
            last_status      INTEGER,
            last_error       TEXT,
            created_at       REAL NOT NULL,
            finished_at      REAL,
            UNIQUE (webhook, event_seq)
        );
        CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);

        CREATE TABLE trigger_receipts (
            trigger_name  TEXT NOT NULL,
            digest        TEXT NOT NULL,
            at            REAL NOT NULL,
            PRIMARY KEY (trigger_name, digest)
        ) WITHOUT ROWID;
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
    (
        10,
        "workflow control flow: run lineage (forks, child runs), map items, steps waiting for a human",
        """
        ALTER TABLE runs ADD COLUMN parent_run_id TEXT;
        ALTER TABLE runs ADD COLUMN parent_step TEXT;
        ALTER TABLE runs ADD COLUMN relation TEXT;
        ALTER TABLE runs ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX runs_by_parent ON runs(parent_run_id, parent_step);
        ALTER TABLE steps ADD COLUMN question TEXT;
        ALTER TABLE steps ADD COLUMN answer TEXT;
        ALTER TABLE steps ADD COLUMN wait_until REAL;
        ALTER TABLE steps ADD COLUMN reused_from TEXT;
        """,
    ),
    (
        11,
        "coordinator plans: a coordinator run's plan, bid rounds and subtask outcomes",
        """
        CREATE TABLE run_plans (
            run_id      TEXT PRIMARY KEY,
            plan        TEXT NOT NULL,
            updated_at  REAL NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    (
        12,
        "A2A tasks and their push-notification configs, kept in the project's database across restarts",
        """
        CREATE TABLE a2a_tasks (
            task_id     TEXT PRIMARY KEY,
            target      TEXT NOT NULL,
            context_id  TEXT NOT NULL,
            owner       TEXT NOT NULL,
            state       TEXT NOT NULL,
            updated_at  REAL NOT NULL,
            data        BLOB NOT NULL,
            run_id      TEXT,
            thread      TEXT
        );
        CREATE INDEX a2a_tasks_by_target ON a2a_tasks(target, owner, updated_at);

        CREATE TABLE a2a_push_configs (
            task_id    TEXT NOT NULL,
            config_id  TEXT NOT NULL,
            owner      TEXT NOT NULL,
            data       BLOB NOT NULL,
            PRIMARY KEY (task_id, config_id)
        ) WITHOUT ROWID;
        """,
    ),
    (
        18,
        "Cancel requests: a run another process owns is asked to stop; its owner polls for them",
        """
        CREATE TABLE run_cancels (
            run_id        TEXT PRIMARY KEY,
            requested_at  REAL NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    (
        19,
        "Nodes: each daemon sharing the database registers, beats and says when it drains",
        """
        CREATE TABLE nodes (
            node_id       TEXT PRIMARY KEY,
            owner         TEXT NOT NULL,
            host          TEXT NOT NULL,
            pid           INTEGER NOT NULL,
            version       TEXT NOT NULL,
            url           TEXT,
            state         TEXT NOT NULL,
            started_at    REAL NOT NULL,
            heartbeat_at  REAL NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    (
        20,
        "Step claims: a node running a step for another node's run (cluster mode) holds it by a token",
        """
        CREATE TABLE step_claims (
            run_id      TEXT NOT NULL,
            step        TEXT NOT NULL,
            node        TEXT NOT NULL,
            token       TEXT NOT NULL,
            claimed_at  REAL NOT NULL,
            result      TEXT,
            applied     INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (run_id, step)
        ) WITHOUT ROWID;
        """,
    ),
    (
        21,
        "Thread leases: a node running a turn of a conversation thread on a shared database holds it by a token",
        """
        CREATE TABLE thread_leases (
            agent_id    TEXT NOT NULL,
            thread      TEXT NOT NULL,
            token       TEXT NOT NULL,
            expires_at  REAL NOT NULL,
            PRIMARY KEY (agent_id, thread)
        ) WITHOUT ROWID;
        """,
    ),
]
