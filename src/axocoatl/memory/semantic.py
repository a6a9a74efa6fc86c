"""Tier 4: semantic memory — every exchange as an embedded text, searched by cosine similarity.

Texts are stored in the turn's transaction (so they are never lost); their vectors are
computed later in a worker thread — when a search first needs them, or in the background once
too many of them wait — so embedding neither blocks the event loop nor lengthens the turn that
wrote them. Vectors ride along in the agent's NEXT transaction (or are written when the agent
stops): a vector can always be recomputed, so it is not worth an fsync of its own. A search
first embeds what is pending and could be found, so it always sees every committed exchange;
a passive recall whose every candidate is still in its thread's live context returns nothing
without embedding anything (not even its query). Rows whose vector is missing (a crash before it
was written, a process that ended first) or was made by another embedder are embedded once,
by the first search after the memory loads. Vectors are L2-normalised float32, kept in one
numpy matrix per agent: search is one matrix-vector product.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from axocoatl.core.ids import Clock
from axocoatl.memory.embedding import (
    INLINE_CHARS,
    Embedder,
    Vectors,
    from_blob,
    run_embed,
    single_threaded_blas,
    to_blob,
)
from axocoatl.store import MemoryRecord, MemoryVector, Store, WriteBatch

log = logging.getLogger(__name__)

EMBED_BATCH = 64  # texts embedded (and vectors written) per worker-thread call
# Unembedded rows kept before they are embedded in the background anyway (texts of at most ~8 KB:
# ≤ ~8 MB per agent). Below it, a step nobody searches after costs no embedding at all.
PENDING_LIMIT = 1024
INLINE_ROWS = 5000  # a scan this small takes well under a millisecond: not worth a thread hop


@dataclass(frozen=True)
class _Snapshot:
    matrix: Vectors
    origins: npt.NDArray[np.int64]
    threads: npt.NDArray[np.int32]
    texts: list[str]
    ts: list[float]
    seqs: list[int]


def _nearest(
    snap: _Snapshot,
    vector: Vectors,
    k: int,
    min_score: float | None,
    before_seq: int | None,
    thread: int,
    between: tuple[float, float] | None = None,
) -> list[Recollection]:
    count = snap.matrix.shape[0]
    scores = snap.matrix @ vector
    if before_seq is not None:
        live = (snap.origins >= before_seq) & (snap.threads == thread)
        scores = np.where(live, np.float32(-2.0), scores)
    if between is not None:
        ts = np.asarray(snap.ts[:count], dtype=np.float64)
        scores = np.where((ts < between[0]) | (ts >= between[1]), np.float32(-2.0), scores)
    k = min(k, count)
    top = np.argpartition(-scores, k - 1)[:k] if k < count else np.arange(count)
    top = top[np.argsort(-scores[top], kind="stable")]
    found = []
    for index in top:
        score = float(scores[index])
        if score < -1.5 or (min_score is not None and not score > min_score):
            break  # sorted: everything after is lower (-2 marks excluded rows)
        found.append(Recollection(snap.texts[index], score, snap.ts[index], snap.seqs[index]))
    return found


def _origin(record: MemoryRecord) -> tuple[int, str | None]:
    """The session seq (-1: none) and thread of a memory's exchange."""
    metadata = record.metadata or {}
    origin, thread = metadata.get("session_seq"), metadata.get("thread")
    # Memories of format-1 sessions have a seq but no thread: that session is now thread "main".
    name = thread if isinstance(thread, str) else ("main" if isinstance(origin, int) else None)
    return (origin if isinstance(origin, int) else -1), name


@dataclass(frozen=True)
class Recollection:
    text: str
    score: float
    ts: float
    seq: int


class SemanticMemory:
    """One agent's semantic memories, loaded lazily and kept in memory."""

    def __init__(self, agent_id: str, store: Store, embedder: Embedder, clock: Clock, *, persist: bool = True) -> None:
        self.agent_id = agent_id
        self.embedder = embedder
        self._store = store
        self._clock = clock
        self._persist = persist  # False for read-only use (the CLI): re-embeddings are not written back
        self._matrix: Vectors = np.zeros((0, embedder.dim), dtype=np.float32)
        self._count = 0
        self._texts: list[str] = []
        self._ts: list[float] = []
        self._seqs: list[int] = []
        # Thread and session seq of each memory's exchange (-1: none), to skip what is still in the
        # live context of the thread a turn runs on.
        self._origins = np.zeros(0, dtype=np.int64)
        self._threads = np.zeros(0, dtype=np.int32)
        self._thread_codes: dict[str, int] = {}
        self._pending: list[MemoryRecord] = []
        self._in_flight: list[MemoryRecord] = []  # being embedded now: no longer pending, not yet searchable
        self._embed_lock_: asyncio.Lock | None = None
        self._unsaved: list[MemoryVector] = []
        self._worker: asyncio.Task[None] | None = None
        self._loaded = False
        self._load_lock_: asyncio.Lock | None = None

    def __len__(self) -> int:
        return self._count + len(self._pending) + len(self._in_flight)

    # ------------------------------------------------------------------ loading

    async def load(self) -> None:
        if self._loaded:
            return
        if self._load_lock_ is None:  # made on first use: idle agents stay small
            self._load_lock_ = asyncio.Lock()
        async with self._load_lock_:
            if self._loaded:
                return
            rows = await self._store.load_memories(self.agent_id)
            stale: list[MemoryRecord] = []
            ready: list[tuple[MemoryRecord, Vectors]] = []
            for row in rows:
                vector = None
                if row.vector is not None and row.embedder == self.embedder.id:
                    vector = from_blob(row.vector, self.embedder.dim)
                if vector is None:
                    stale.append(row)
                else:
                    ready.append((row, vector))
            self._reserve(len(rows))
            for row, vector in ready:
                self._append(row, vector)
            self._loaded = True
            if stale:  # embedded when a search first needs them (or too many wait), not at every start
                log.info("agent %s: %d stored memories to embed with %s", self.agent_id, len(stale), self.embedder.id)
                self._pending.extend(stale)
                if len(self._pending) >= PENDING_LIMIT:
                    self._start_worker()

    # ------------------------------------------------------------------ writes

    def record(self, text: str, ts: float, metadata: dict[str, object] | None = None) -> MemoryRecord:
        """The row for a new memory, to write in the caller's transaction (then call ``committed``).

        The store numbers it inside that transaction.
        """
        return MemoryRecord(self.agent_id, -1, text, ts, metadata=dict(metadata) if metadata else None)

    def committed(self, record: MemoryRecord, *, embed_now: bool = True) -> None:
        """The row is durable: embed it in the background, or (``embed_now`` False) when a search needs it.

        A workflow step nobody searches after costs no embedding: the vector is computed, the same,
        by the first search that needs it (a later turn, a recall_search call, the next process).
        A backlog of ``PENDING_LIMIT`` rows is embedded in the background anyway (batched), so a
        long-lived process never holds an unbounded backlog.
        """
        self._pending.append(record)
        if embed_now or len(self._pending) >= PENDING_LIMIT:
            self._start_worker()

    async def stop(self) -> None:
        """Stop embedding in the background (what is left is embedded by a search of a later process)."""
        worker, self._worker = self._worker, None
        if worker is not None and not worker.done():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    def _start_worker(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._embed_pending(), name=f"embed:{self.agent_id}")

    async def _embed_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:EMBED_BATCH], self._pending[EMBED_BATCH:]
            await self._embed(batch)

    async def _embed(self, batch: list[MemoryRecord]) -> None:
        """Embed rows already taken out of ``_pending`` and make them searchable."""
        self._in_flight.extend(batch)
        try:
            vectors = await run_embed(self.embedder, [r.text for r in batch])
        except Exception:  # never lose the turn over an embedding bug: the row is re-embedded on load
            log.exception("agent %s: embedding %d memories failed", self.agent_id, len(batch))
            return
        finally:
            taken = {id(r) for r in batch}
            self._in_flight = [r for r in self._in_flight if id(r) not in taken]
        self._reserve(self._count + len(batch))
        for record, vector in zip(batch, vectors, strict=True):
            self._append(record, vector)
        if self._persist:
            self._unsaved.extend(
                MemoryVector(r.agent_id, r.seq, self.embedder.id, to_blob(v))
                for r, v in zip(batch, vectors, strict=True)
            )
            if len(self._unsaved) >= EMBED_BATCH:  # a bulk re-embedding on load: write as we go
                await self.save()

    async def flush(self) -> None:
        """Wait until every committed memory is embedded and searchable."""
        if self._pending:
            self._start_worker()
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)

    def take_unsaved(self) -> list[MemoryVector]:
        """Vectors computed but not yet stored, for the caller's transaction."""
        unsaved, self._unsaved = self._unsaved, []
        return unsaved

    async def save(self) -> None:
        """Store the computed vectors now (on stop, or during a bulk re-embedding)."""
        unsaved = self.take_unsaved()
        if unsaved:
            try:
                await self._store.write(WriteBatch(memory_vectors=unsaved))
            except Exception:  # they are recomputed on the next load
                log.exception("agent %s: storing %d memory vectors failed", self.agent_id, len(unsaved))

    # ------------------------------------------------------------------ search

    async def search(
        self,
        query: str,
        k: int,
        min_score: float | None = None,
        *,
        before_seq: int | None = None,
        thread: str | None = None,
        between: tuple[float, float] | None = None,
    ) -> list[Recollection]:
        """The ``k`` most similar memories (cosine), best first, strictly above ``min_score``.

        ``before_seq`` leaves out exchanges of ``thread`` from that session seq on (they are in its
        live context); ``between`` keeps only memories stored in that [start, end) of timestamps.
        """
        await self.load()
        if not query.strip() or k <= 0:
            return []
        if before_seq is None:
            await self.flush()
        elif not await self._embed_candidates(before_seq, thread):
            return []  # every memory is in the thread's live context: nothing to find, nothing to embed
        if self._count == 0:
            return []
        # Snapshot on the loop thread (rows appended later are past ``count``), then embed the
        # query and scan the matrix in a worker thread: at 10^5 memories the scan takes milliseconds.
        snapshot = self._snapshot()
        code = self._thread_code(thread)
        if (
            not getattr(self.embedder, "releases_gil", True)
            and len(query) <= INLINE_CHARS
            and self._count <= INLINE_ROWS
        ):
            return _nearest(snapshot, self.embedder.embed([query])[0], k, min_score, before_seq, code, between)
        return await asyncio.to_thread(self._search_in_thread, snapshot, query, k, min_score, before_seq, code, between)

    async def _embed_candidates(self, before_seq: int, thread: str | None) -> bool:
        """Embed the pending rows a search leaving out ``thread``'s rows from ``before_seq`` on could find.

        Rows still in that live context stay pending (a later search, or the background backlog,
        embeds them). Returns whether the search has any candidate at all.
        """

        def candidate(record: MemoryRecord) -> bool:
            origin, name = _origin(record)
            return not (name == thread and origin >= before_seq)

        if self._embed_lock_ is None:
            self._embed_lock_ = asyncio.Lock()
        async with self._embed_lock_:  # two searches must not embed (and add) the same rows twice
            if any(candidate(r) for r in self._in_flight):
                await self.flush()  # the background worker holds one of them: wait for it
            wanted = [r for r in self._pending if candidate(r)]
            if wanted:
                self._pending = [r for r in self._pending if not candidate(r)]
                for start in range(0, len(wanted), EMBED_BATCH):
                    await self._embed(wanted[start : start + EMBED_BATCH])
        n, code = self._count, self._thread_code(thread)
        return n > 0 and not bool(((self._origins[:n] >= before_seq) & (self._threads[:n] == code)).all())

    def _search_in_thread(
        self,
        snapshot: _Snapshot,
        query: str,
        k: int,
        min_score: float | None,
        before_seq: int | None,
        thread: int,
        between: tuple[float, float] | None,
    ) -> list[Recollection]:
        with single_threaded_blas():
            vector = self.embedder.embed([query])[0]
            return _nearest(snapshot, vector, k, min_score, before_seq, thread, between)

    def nearest(
        self,
        vector: Vectors,
        k: int,
        min_score: float | None = None,
        *,
        before_seq: int | None = None,
        thread: str | None = None,
    ) -> list[Recollection]:
        """Search with an already embedded query (synchronous)."""
        return _nearest(self._snapshot(), vector, k, min_score, before_seq, self._thread_code(thread))

    def _snapshot(self) -> _Snapshot:
        n = self._count
        return _Snapshot(self._matrix[:n], self._origins[:n], self._threads[:n], self._texts, self._ts, self._seqs)

    def _thread_code(self, thread: str | None) -> int:
        if thread is None:
            return -1
        return self._thread_codes.setdefault(thread, len(self._thread_codes))

    # ------------------------------------------------------------------ matrix

    def _reserve(self, rows: int) -> None:
        if rows <= self._matrix.shape[0]:
            return
        grown = np.zeros((max(rows, 2 * self._matrix.shape[0], 16), self.embedder.dim), dtype=np.float32)
        grown[: self._count] = self._matrix[: self._count]
        self._matrix = grown
        origins = np.full(grown.shape[0], -1, dtype=np.int64)
        origins[: self._count] = self._origins[: self._count]
        self._origins = origins
        threads = np.full(grown.shape[0], -1, dtype=np.int32)
        threads[: self._count] = self._threads[: self._count]
        self._threads = threads

    def _append(self, record: MemoryRecord, vector: Vectors) -> None:
        self._matrix[self._count] = vector
        origin, thread_name = _origin(record)
        self._origins[self._count] = origin
        self._threads[self._count] = self._thread_code(thread_name)
        self._count += 1
        self._texts.append(record.text)
        self._ts.append(record.ts)
        self._seqs.append(record.seq)

    def add_vectors(self, texts: Sequence[str], vectors: Vectors, ts: float) -> None:
        """Load precomputed vectors (benchmarks, tests); not persisted."""
        self._loaded = True
        self._reserve(self._count + len(texts))
        for text, vector in zip(texts, vectors, strict=True):
            self._append(MemoryRecord(self.agent_id, len(self._seqs), text, ts), vector)
