"""The scale-out store: the same schema, migrations and aggregates as SQLite, on PostgreSQL."""

from axocoatl.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
