"""The store tests run against both backends: SQLite and a fresh PostgreSQL database in the session's cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from axocoatl.store import SQLiteStore
from axocoatl.store.postgres import PostgresStore


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    if request.param == "postgres":
        s: SQLiteStore = PostgresStore(request.getfixturevalue("postgres_dsn"))
    else:
        s = SQLiteStore(tmp_path / "db" / "axocoatl.db", synchronous="normal")
    await s.open()
    yield s
    await s.close()
