"""Embedding throughput of semantic memory's embedders (MiniLM numpy forward pass, hashed-v1).

    .venv/bin/python benchmarks/memory_embedding.py [--quick]

Prints one JSON object per line: model load time, texts/s at several batch sizes, and the
latency of embedding one exchange (what a turn pays, in a worker thread).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from axocoatl.memory.embedding import HashedEmbedder
from axocoatl.memory.minilm import MiniLMEmbedder, minilm_model_dir

EXCHANGE = (
    "User: I moved to Porto last spring; my sister Ingrid lives in Reykjavik and keeps bees.\n"
    "Assistant: Noted — Porto for you, Reykjavik and beekeeping for Ingrid."
)


SHORT = "A cat sits on the mat"  # the short-sentence case of docs/shared dependencies notes


def texts(n: int, kind: str) -> list[str]:
    if kind == "short":
        return [f"{SHORT} {i}" for i in range(n)]
    return [f"{EXCHANGE} (variant {i}: {' '.join(['detail'] * (i % 7))})" for i in range(n)]


def emit(**fields: object) -> None:
    print(json.dumps({"bench": "memory_embedding", **fields}), flush=True)


def measure(embedder: object, n: int, batches: list[int], singles: int) -> None:
    embed = embedder.embed  # type: ignore[attr-defined]
    name = embedder.id  # type: ignore[attr-defined]
    for kind in ("short", "exchange"):
        data = texts(n, kind)
        for batch in batches:
            started = time.perf_counter()
            for start in range(0, n, batch):
                embed(data[start : start + batch])
            took = time.perf_counter() - started
            emit(
                embedder=name,
                text=kind,
                chars=len(data[0]),
                texts=n,
                batch=batch,
                seconds=round(took, 4),
                texts_per_s=round(n / took, 1),
            )
    latencies = []
    for i in range(singles):
        started = time.perf_counter()
        embed([f"{EXCHANGE} #{i}"])
        latencies.append((time.perf_counter() - started) * 1000)
    emit(
        embedder=name,
        single_exchange_ms_p50=round(statistics.median(latencies), 2),
        single_exchange_ms_max=round(max(latencies), 2),
        samples=singles,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not a measurement")
    args = parser.parse_args(argv)
    emit(load_average=[round(x, 2) for x in os.getloadavg()], cpus=os.cpu_count())
    n, batches, singles = (8, [4], 3) if args.quick else (512, [1, 8, 32], 50)

    measure(HashedEmbedder(), n, batches, singles)
    model_dir = minilm_model_dir()
    if model_dir is None:
        emit(embedder="minilm-l6-v2", skipped="not installed (scripts/install-embeddings.sh)")
        return 0
    embedder = MiniLMEmbedder(model_dir)
    started = time.perf_counter()
    embedder.embed(["warm up"])
    emit(embedder=embedder.id, load_and_first_embed_s=round(time.perf_counter() - started, 3))
    measure(embedder, n, batches, singles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
