"""Recall latency: cosine search over one agent's memories, at 10k and 100k memories.

    .venv/bin/python benchmarks/memory_recall.py [--quick]

The search part uses SYNTHETIC vectors (random unit vectors, 384-dim like MiniLM): the
search cost depends only on the count and dimension, and embedding 100k real texts would
take ~10 minutes. Also measured: the full recall_search path (embed the query + search)
with each available embedder, and loading the memories from SQLite on agent start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from axocoatl.core.ids import SystemClock
from axocoatl.memory.embedding import HashedEmbedder, single_threaded_blas, to_blob
from axocoatl.memory.minilm import MiniLMEmbedder, minilm_model_dir
from axocoatl.memory.semantic import SemanticMemory
from axocoatl.store import MemoryRecord, SQLiteStore, WriteBatch

DIM = 384


def emit(**fields: object) -> None:
    print(json.dumps({"bench": "memory_recall", **fields}), flush=True)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
    }


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class _NoStore:
    async def load_memories(self, agent_id: str) -> list[MemoryRecord]:
        return []


async def search_latency(n: int, queries: int, rng: np.random.Generator) -> None:
    class Fixed:
        id, dim = "synthetic", DIM

        def embed(self, texts: list[str]) -> np.ndarray:
            return unit_vectors(rng, len(texts), DIM)

    memory = SemanticMemory("bench", _NoStore(), Fixed(), SystemClock())  # type: ignore[arg-type]
    memory.add_vectors([f"memory {i}" for i in range(n)], unit_vectors(rng, n, DIM), ts=0.0)
    probes = unit_vectors(rng, queries, DIM)
    samples = []
    with single_threaded_blas():  # as in production: the scan runs on one core in a worker thread
        for q in probes:
            started = time.perf_counter()
            memory.nearest(q, 5, 0.15)
            samples.append((time.perf_counter() - started) * 1000)
    emit(part="search_only", vectors="synthetic", memories=n, dim=DIM, top_k=5, queries=queries, **percentiles(samples))


async def tool_latency(n: int, queries: int, embedder: object, rng: np.random.Generator) -> None:
    """recall_search as the tool runs it: embed the query in a thread, then search."""
    dim = embedder.dim  # type: ignore[attr-defined]
    memory = SemanticMemory("bench", _NoStore(), embedder, SystemClock())  # type: ignore[arg-type]
    memory.add_vectors([f"memory {i}" for i in range(n)], unit_vectors(rng, n, dim), ts=0.0)
    await memory.search("warm up the model", 5)
    samples = []
    for i in range(queries):
        started = time.perf_counter()
        await memory.search(f"where does my sister live and what does she keep? #{i}", 5, 0.15)
        samples.append((time.perf_counter() - started) * 1000)
    emit(part="recall_search", embedder=embedder.id, memories=n, queries=queries, **percentiles(samples))  # type: ignore[attr-defined]


async def load_time(n: int, rng: np.random.Generator) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db", synchronous="normal")
        await store.open()
        try:
            vectors = unit_vectors(rng, n, DIM)
            for start in range(0, n, 5000):
                rows = [
                    MemoryRecord(
                        "bench", i, f"User: fact {i}\nAssistant: ok", float(i), "synthetic", to_blob(vectors[i])
                    )
                    for i in range(start, min(n, start + 5000))
                ]
                await store.write(WriteBatch(memories=rows))

            class Fixed:
                id, dim = "synthetic", DIM

                def embed(self, texts: list[str]) -> np.ndarray:
                    return unit_vectors(rng, len(texts), DIM)

            memory = SemanticMemory("bench", store, Fixed(), SystemClock())  # type: ignore[arg-type]
            started = time.perf_counter()
            await memory.load()
            emit(part="load_from_sqlite", memories=n, seconds=round(time.perf_counter() - started, 3))
        finally:
            await store.close()


async def run(quick: bool) -> None:
    emit(load_average=[round(x, 2) for x in os.getloadavg()], cpus=os.cpu_count())
    rng = np.random.default_rng(7)
    sizes = [1000] if quick else [10_000, 100_000]
    queries = 20 if quick else 200
    for n in sizes:
        await search_latency(n, queries, rng)
        await tool_latency(n, max(5, queries // 4), HashedEmbedder(), rng)
        model_dir = minilm_model_dir()
        if model_dir is not None:
            await tool_latency(n, max(5, queries // 4), MiniLMEmbedder(model_dir), rng)
        await load_time(n, rng)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not a measurement")
    asyncio.run(run(parser.parse_args(argv).quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
