"""The worker: one dedicated thread owning one sqlite3 connection, running submitted functions in order.

A function runs a whole transaction on the thread in one hop (not one hop per statement);
its result or exception comes back to the awaiting coroutine through an asyncio future.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from axocoatl.core.errors import StoreError

T = TypeVar("T")

_Job = tuple[Callable[[sqlite3.Connection], Any], asyncio.AbstractEventLoop, asyncio.Future[Any]]


def store_closed() -> StoreError:
    return StoreError("the store is closed", hint="open the Runtime before using it")


class Worker:
    """Runs functions on ``db`` in a thread of its own, first submitted first run."""

    def __init__(self, db: sqlite3.Connection, *, name: str = "axocoatl-sqlite") -> None:
        self._db = db
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closing = False
        # A daemon: a process that exits without closing its store (an error on the way out) never hangs on it.
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(db)`` on the thread. A cancelled caller does not stop ``fn``: it runs to its end, its result dropped."""
        if self._closing:
            raise store_closed()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, loop, future))
        return await future

    async def close(self) -> None:
        """Run what is queued, close the connection, end the thread."""
        if self._closing:
            return
        self._closing = True
        loop = asyncio.get_running_loop()
        closed: asyncio.Future[None] = loop.create_future()
        self._jobs.put((lambda db: db.close(), loop, closed))
        self._jobs.put(None)
        try:
            await closed
        finally:
            if not closed.cancelled():  # the thread is past its last job: joining does not block the loop
                self._thread.join()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, loop, future = job
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn(self._db)
            except BaseException as exc:  # the caller's to handle; the thread serves on
                error = exc
            # A closed loop has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # its caller was cancelled
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
