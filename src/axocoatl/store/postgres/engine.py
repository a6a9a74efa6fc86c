"""The PostgreSQL engine: a psycopg connection pool, each store call one checkout on a thread of its own.

The aggregates are synchronous sqlite3-style functions (store/sqlite/*.py); each call runs
whole on one pooled connection, in an executor thread, so the event loop never waits on
the network. A node's commits go in the order they were asked for, grouped: the batches that
arrive while one transaction commits share the next (each in its own savepoint, as on SQLite),
since every write transaction holds the store's write lock anyway (connection.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, cast

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from axocoatl.core.errors import StoreError
from axocoatl.store.postgres.connection import Catalog, Connection, Row, load_catalog
from axocoatl.store.postgres.schema import migrate
from axocoatl.store.records import WriteBatch
from axocoatl.store.sqlite import commits

T = TypeVar("T")

POOL_SIZE = 8  # connections (and executor threads) per store
CONNECT_TIMEOUT_S = 10.0


def redacted(dsn: str) -> str:
    """The DSN without its password, for messages."""
    dsn = re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", dsn)
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", dsn, flags=re.IGNORECASE)


class PostgresEngine:
    def __init__(self, dsn: str, *, pool_size: int = POOL_SIZE) -> None:
        self.dsn = dsn
        self.where = redacted(dsn)
        self._pool_size = pool_size
        self._pool: ConnectionPool[psycopg.Connection[Row]] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._catalog: Catalog | None = None
        self._queued: list[tuple[WriteBatch, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        executor = ThreadPoolExecutor(max_workers=self._pool_size, thread_name_prefix="axocoatl-pg")
        pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            self.dsn,
            min_size=1,
            max_size=self._pool_size,
            kwargs={"autocommit": True},
            # A connection the server dropped (a restart, a failover) is replaced at checkout, not failed on.
            check=ConnectionPool.check_connection,
            open=False,
            timeout=CONNECT_TIMEOUT_S,
            name="axocoatl",
        )
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(executor, functools.partial(pool.open, wait=True, timeout=CONNECT_TIMEOUT_S))
            self._catalog = await loop.run_in_executor(executor, functools.partial(self._setup, pool))
        except BaseException as exc:
            await loop.run_in_executor(executor, pool.close)
            executor.shutdown(wait=False)
            if isinstance(exc, PoolTimeout | psycopg.Error):
                raise self._error(exc, "connecting") from exc
            raise
        self._pool, self._executor = pool, executor

    def _setup(self, pool: ConnectionPool[psycopg.Connection[Row]]) -> Catalog:
        with pool.connection() as conn:
            migrate(conn, self.where)
            return load_catalog(conn)

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(Exception):
                await self._flusher
        pool, executor = self._pool, self._executor
        self._pool = self._executor = None
        if pool is None or executor is None:
            return
        await asyncio.get_running_loop().run_in_executor(executor, pool.close)
        executor.shutdown(wait=True)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` on a pooled connection, in a thread of the pool's executor."""
        pool, executor, catalog = self._pool, self._executor, self._catalog
        if pool is None or executor is None or catalog is None:
            raise StoreError("the store is closed", hint="open the Runtime before using it")

        def call() -> T:
            try:
                with pool.connection() as conn:
                    # The aggregates call the sqlite3 methods Connection provides, nothing else.
                    return fn(cast(sqlite3.Connection, Connection(conn, catalog)))
            except (psycopg.Error, PoolTimeout) as exc:
                raise self._error(exc, "talking to the database") from exc

        return await asyncio.get_running_loop().run_in_executor(executor, call)

    inline = run  # no connection is cheaper than another: every call goes over the network

    async def write(self, batch: WriteBatch, *, durable: bool) -> None:
        if not batch:
            return
        if self._pool is None:
            raise StoreError("the store is closed", hint="open the Runtime before using it")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append((batch, future))
        if self._flusher is None or self._flusher.done():
            # Its own task: a caller that is cancelled must not strand the batches queued behind it.
            self._flusher = asyncio.ensure_future(self._flush())
        await future

    async def _flush(self) -> None:
        while self._queued:
            group, self._queued = self._queued, []
            try:
                outcomes = await self.run(functools.partial(commits.write_group, batches=[b for b, _ in group]))
            except BaseException as exc:
                outcomes = [exc] * len(group)
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if future.done():
                    continue
                if outcome is None:
                    future.set_result(None)
                elif isinstance(outcome, psycopg.Error):
                    future.set_exception(self._error(outcome, "committing"))
                else:
                    future.set_exception(outcome)

    def _error(self, exc: BaseException, action: str) -> StoreError:
        hint = None
        if isinstance(exc, PoolTimeout | psycopg.OperationalError):
            hint = f"check that PostgreSQL is running and that store.dsn ({self.where}) is right"
        error = StoreError(f"database error on {self.where} while {action}: {exc}".strip(), hint=hint)
        error.__cause__ = exc
        return error
