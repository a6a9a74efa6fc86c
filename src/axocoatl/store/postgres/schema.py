"""Bringing a PostgreSQL database up to date: the same MIGRATIONS list as SQLite, translated."""

from __future__ import annotations

from typing import Any

import psycopg

from axocoatl.core.errors import StoreError
from axocoatl.store.migrations import MIGRATIONS
from axocoatl.store.postgres import dialect

MIGRATION_LOCK = 0x61786F6D  # pg_advisory_xact_lock key: one node migrates at a time ("axom")


def migrate(conn: psycopg.Connection[tuple[Any, ...]], where: str) -> None:
    """Apply every migration not yet applied, all in one transaction (PostgreSQL DDL is transactional)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        tables = {
            str(row[0]) for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        }
        if tables and "schema_migrations" not in tables:
            raise StoreError(
                f"{where} holds another program's tables ({', '.join(sorted(tables)[:5])})",
                hint="point store.dsn at an empty database (or a schema of its own via options=-csearch_path=...)",
            )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version BIGINT PRIMARY KEY, name TEXT, applied_at DOUBLE PRECISION)"
        )
        applied = {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations")}
        newer = sorted(applied - {version for version, _, _ in MIGRATIONS})
        if newer:
            raise StoreError(
                f"{where} was written by a newer axocoatl (schema version {newer[-1]})",
                hint="upgrade axocoatl, or point store.dsn at another database",
            )
        for version, name, script in MIGRATIONS:
            if version in applied:
                continue
            for statement in (s.strip() for s in script.split(";")):
                if statement and not dialect.skipped(version, statement):
                    conn.execute(dialect.translate(statement, {}).replace("%%", "%"))
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, EXTRACT(EPOCH FROM now()))",
                (version, name),
            )
