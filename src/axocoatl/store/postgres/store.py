"""PostgresStore: the Store protocol on PostgreSQL, running the same aggregates as SQLiteStore."""

from __future__ import annotations

from pathlib import Path

from axocoatl.store.postgres.engine import PostgresEngine
from axocoatl.store.sqlite.store import SQLiteStore


class PostgresStore(SQLiteStore):
    """Durable state in a PostgreSQL database shared by every node: SQLiteStore's methods, another engine."""

    def __init__(self, dsn: str, *, pool_size: int | None = None) -> None:
        engine = PostgresEngine(dsn) if pool_size is None else PostgresEngine(dsn, pool_size=pool_size)
        self.dsn = engine.where  # without its password
        self.path = Path(engine.where)  # not a file: the location in messages; see exists()
        self.synchronous = "full"
        self.shared = True  # several nodes use this database: a node adopts the runs of one that died
        self._engine = engine

    def exists(self) -> bool:
        """A PostgreSQL database is provisioned by its administrator: it is always there to read."""
        return True
