"""Checkpoint write and restore time, and what memory adds to one durable turn.

    .venv/bin/python benchmarks/memory_checkpoint.py [--quick]

1. commit: one turn's transaction (2 session messages + a ledger row) without and with
   memory's writes (checkpoint + daily-log entry + semantic-memory row), synchronous=full
   and normal.
2. restore: reading the newest checkpoint on agent start.
3. turn: Runtime.execute with the mock provider, an agent with memory (hashed-v1 embedder,
   so the number is the pipeline's own cost, not the model's) vs the same agent without.
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

from axocoatl.agents.actor import Agent
from axocoatl.config.schema import AgentConfig, AxocoatlConfig, StoreConfig
from axocoatl.core.messages import AgentInput, ChatMessage
from axocoatl.memory import daily_log
from axocoatl.memory.checkpoint import AgentState, restore
from axocoatl.memory.embedding import HashedEmbedder
from axocoatl.runtime.runtime import Runtime
from axocoatl.store import LedgerEntry, MemoryRecord, SessionAppend, SQLiteStore, WriteBatch


def emit(**fields: object) -> None:
    print(json.dumps({"bench": "memory_checkpoint", **fields}), flush=True)


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
    }


async def commit_cost(n: int, synchronous: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db", synchronous=synchronous)
        await store.open()
        try:
            state = AgentState()
            for with_memory in (False, True):
                samples = []
                for i in range(n):
                    now = time.time()
                    seq = 2 * i + (0 if not with_memory else 2 * n)
                    messages = (ChatMessage.user(f"question {i}"), ChatMessage.assistant(f"answer {i}"))
                    batch = WriteBatch(
                        session=[SessionAppend("a", seq, messages, now)],
                        ledger=[LedgerEntry("a", 100, 20, now, provider="mock", model="mock-1")],
                    )
                    if with_memory:
                        state.turns += 1
                        batch.checkpoints.append(state.write("a", now, 3))
                        batch.log_entries.append(daily_log.conversation("a", now, f"question {i}", f"answer {i}"))
                        batch.memories.append(MemoryRecord("a", i, f"User: question {i}\nAssistant: answer {i}", now))
                    started = time.perf_counter()
                    await store.write(batch)
                    samples.append((time.perf_counter() - started) * 1000)
                emit(part="commit", synchronous=synchronous, memory_writes=with_memory, commits=n, **stats(samples))
            samples = []
            for _ in range(n):
                started = time.perf_counter()
                restore("a", await store.load_checkpoints("a"))
                samples.append((time.perf_counter() - started) * 1000)
            emit(part="restore", synchronous=synchronous, restores=n, **stats(samples))
            size = max(len(text) for _, text in await store.load_checkpoints("a"))
            emit(part="checkpoint_size", bytes=size, turns=state.turns)
        finally:
            await store.close()


async def turn_cost(n: int, synchronous: str) -> None:
    agents = [AgentConfig(id="with", provider="mock"), AgentConfig(id="without", provider="mock")]
    config = AxocoatlConfig(agents=agents, store=StoreConfig(synchronous=synchronous))  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        async with Runtime(config, data_dir=Path(tmp), embedder=HashedEmbedder()) as rt:
            with_memory = rt.agents["with"]
            cfg = rt.agents["without"].config
            without = Agent(
                cfg,
                provider=lambda: rt.provider("mock"),
                toolbox=lambda: rt.tools.view("without", []),
                store=rt.store,
                clock=rt.clock,
                counter=rt.counter,
            )
            agents = {"without_memory": without, "with_memory": with_memory}
            samples: dict[str, list[float]] = {label: [] for label in agents}
            for label, agent in agents.items():
                await agent.execute(AgentInput(f"warm up {label}"))
            for i in range(n):  # interleaved, so both see the same machine and database state
                for label, agent in agents.items():
                    started = time.perf_counter()
                    await agent.execute(AgentInput(f"turn {i}: tell me something about topic {i % 17}"))
                    samples[label].append((time.perf_counter() - started) * 1000)
            for label, values in samples.items():
                emit(part="turn", agent=label, turns=n, synchronous=synchronous, embedder="hashed-v1", **stats(values))
            await without.stop()


async def run(quick: bool) -> None:
    emit(load_average=[round(x, 2) for x in os.getloadavg()], cpus=os.cpu_count())
    n = 10 if quick else 300
    await commit_cost(n, "full")
    await commit_cost(n, "normal")
    await turn_cost(5 if quick else 200, "full")
    await turn_cost(5 if quick else 500, "normal")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not a measurement")
    asyncio.run(run(parser.parse_args(argv).quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
