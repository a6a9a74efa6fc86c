"""CrewAI's side of the workloads (runs in the peers' venv, never in axocoatl's).

    .cache/bench-peers-venv/bin/python -m benchmarks.peer_crewai CASE --key value ...

The agent here is a CrewAI Flow method that calls its own LLM object (a ``BaseLLM``
subclass answering with ``common.mock_reply`` on the last user message; ``acall`` is
native async). Chains are ``@listen`` cascades, the wide DAG is ``@listen(root)`` x N and
``@listen(and_(*workers))``. Durable = class-level ``@persist`` with CrewAI's
``SQLiteFlowPersistence`` (state saved after every method), whose per-save connection
gets ``PRAGMA synchronous=FULL|NORMAL`` (the stock class sets WAL and leaves the
default); non-durable = no ``@persist``. The idle-agent case builds ``crewai.Agent``
objects. Resume = ``kickoff(inputs={"id": ...})``: CrewAI restores the state but runs
the flow again from ``@start``, so each method skips itself when its output is already
in the restored state (the user-side guard that makes @persist resumable).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from contextlib import closing
from typing import Any

from crewai.flow.flow import Flow, and_, listen, start
from crewai.flow.persistence import SQLiteFlowPersistence, persist
from crewai.llms.base_llm import BaseLLM

from benchmarks.common import (
    TASK,
    chain_ids,
    check,
    dag_ids,
    emit,
    expected_chain_output,
    expected_dag_output,
    mock_reply,
    parse_args,
    rss_bytes,
    settle,
    upstream_input,
)

CALLS: list[str] = []
CALLS_LOG: str | None = None


class MockLLM(BaseLLM):
    """Deterministic, prompt-driven: mock_reply(agent_id, last user message)."""

    agent_id: str = "agent"
    latency_ms: float = 0.0

    def _record(self) -> None:
        CALLS.append(self.agent_id)
        if CALLS_LOG is not None:
            with open(CALLS_LOG, "a") as f:
                f.write(self.agent_id + "\n")
                f.flush()
                os.fsync(f.fileno())

    def _reply(self, messages: Any) -> str:
        if isinstance(messages, str):
            prompt = messages
        else:
            prompt = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        return mock_reply(self.agent_id, str(prompt))

    def call(self, messages: Any, *args: Any, **kwargs: Any) -> str:
        self._record()
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        return self._reply(messages)

    async def acall(self, messages: Any, *args: Any, **kwargs: Any) -> str:
        self._record()
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        return self._reply(messages)


class SyncedPersistence(SQLiteFlowPersistence):
    """CrewAI's SQLite persistence (same schema, same SQL, one connection per save) with an explicit
    ``PRAGMA synchronous`` so both frameworks commit at the same durability."""

    def __init__(self, db_path: str, synchronous: str) -> None:
        super().__init__(db_path)
        self._synchronous = synchronous

    def save_state(self, flow_uuid: str, method_name: str, state_data: Any) -> None:
        state_dict = self._to_state_dict(state_data)
        with closing(sqlite3.connect(self.db_path, timeout=30)) as conn, conn:
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            self._save_state_sql(conn, flow_uuid, method_name, state_dict)


def chain_flow(n: int, persistence: Any | None, latency_ms: float = 0.0) -> type[Flow[Any]]:
    ids = chain_ids(n)
    ns: dict[str, Any] = {}
    for i, agent in enumerate(ids):
        llm = MockLLM(model="bench-mock", agent_id=agent, latency_ms=latency_ms)

        async def method(self: Any, *_: Any, llm: MockLLM = llm, agent: str = agent) -> str:
            state = self.state
            done = state.setdefault("done", [])
            if agent in done:  # already committed before a crash: resumed, not re-run
                return str(state["last_output"])
            prev = state.get("last_agent")
            prompt = TASK if prev is None else upstream_input(TASK, [(prev, state["last_output"])])
            out = await llm.acall([{"role": "user", "content": prompt}])
            state["last_agent"], state["last_output"] = agent, out
            done.append(agent)
            return str(out)

        method.__name__ = agent
        ns[agent] = start()(method) if i == 0 else listen(ids[i - 1])(method)
    cls = type("ChainFlow", (Flow,), ns)
    return persist(persistence)(cls) if persistence is not None else cls  # type: ignore[return-value]


def dag_flow(width: int, persistence: Any | None) -> type[Flow[Any]]:
    root, workers, join = dag_ids(width)
    ns: dict[str, Any] = {}

    def make(agent: str, upstream: list[str]) -> Any:
        llm = MockLLM(model="bench-mock", agent_id=agent)

        async def method(self: Any, *_: Any) -> str:
            outputs = self.state.setdefault("outputs", {})
            prompt = upstream_input(TASK, [(u, outputs[u]) for u in upstream if u in outputs])
            out = await llm.acall([{"role": "user", "content": prompt}])
            outputs[agent] = out
            return str(out)

        method.__name__ = agent
        return method

    ns[root] = start()(make(root, []))
    for w in workers:
        ns[w] = listen(root)(make(w, [root]))
    ns[join] = listen(and_(*workers))(make(join, workers))
    cls = type("DagFlow", (Flow,), ns)
    return persist(persistence)(cls) if persistence is not None else cls  # type: ignore[return-value]


def _persistence(durability: str, path: str) -> Any | None:
    if durability == "nondurable":
        return None
    return SyncedPersistence(path, "NORMAL" if durability == "durable_normal" else "FULL")


def _timed(build: Any, durability: str, steps: int) -> tuple[dict[str, Any], dict[str, Any]]:
    async def once(path: str) -> tuple[float, float, dict[str, Any]]:
        flow = build(_persistence(durability, path))()
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        await flow.kickoff_async()
        w1, c1 = time.perf_counter(), time.process_time()
        return w1 - w0, c1 - c0, dict(flow.state)

    with tempfile.TemporaryDirectory(prefix="crew-bench-") as tmp:
        asyncio.run(once(os.path.join(tmp, "warm.db")))
        CALLS.clear()
        wall, cpu, state = asyncio.run(once(os.path.join(tmp, "timed.db")))
    check(len(CALLS) == steps, f"{len(CALLS)} mock calls, expected {steps}")
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "steps": steps,
        "ms_per_step": wall / steps * 1000,
        "cpu_ms_per_step": cpu / steps * 1000,
        "mock_calls": len(CALLS),
    }, state


def case_chain(args: dict[str, str]) -> dict[str, Any]:
    n = int(args.get("n", "100"))
    durability = args.get("durability", "durable_full")
    result, state = _timed(lambda p: chain_flow(n, p), durability, n)
    check(state["last_output"] == expected_chain_output(n), "final output differs from the reference")
    return {"case": "chain", "n": n, "durability": durability, **result}


def case_dag(args: dict[str, str]) -> dict[str, Any]:
    width = int(args.get("width", "200"))
    durability = args.get("durability", "durable_normal")
    result, state = _timed(lambda p: dag_flow(width, p), durability, width + 2)
    check(state["outputs"]["join"] == expected_dag_output(width), "final output differs from the reference")
    return {"case": "dag", "width": width, "durability": durability, "ms_per_run": result["wall_s"] * 1000, **result}


def case_idle(args: dict[str, str]) -> dict[str, Any]:
    """n idle agents = n ``crewai.Agent`` objects, each with its own LLM object."""
    from crewai import Agent

    n = int(args.get("n", "10000"))
    trace = args.get("tracemalloc", "1") == "1"

    def build(i: int) -> Any:
        llm = MockLLM(model="bench-mock", agent_id=f"agent{i:05d}")
        return Agent(role=f"agent{i:05d}", goal="Answer the task.", backstory=f"You are agent {i}.", llm=llm)

    build(-1)
    settle()
    if trace:
        tracemalloc.start()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    agents = [build(i) for i in range(n)]
    started = time.perf_counter() - t0
    settle()
    rss1 = rss_bytes()
    traced = tracemalloc.get_traced_memory()[0] if trace else 0
    check(len(agents) == n, "agent count")
    return {
        "case": "idle",
        "n": n,
        "rss_bytes_per_agent": (rss1 - rss0) / n,
        "tracemalloc_bytes_per_agent": traced / n if trace else None,
        "start_s": started,
        "agent_is": "a crewai.Agent with its own BaseLLM object",
    }


def case_crash_child(args: dict[str, str]) -> dict[str, Any]:
    global CALLS_LOG
    CALLS_LOG = args["calls_log"]
    n = int(args["n"])
    persistence = SyncedPersistence(os.path.join(args["data_dir"], "crew.db"), "FULL")
    flow = chain_flow(n, persistence, float(args.get("latency_ms", "20")))()
    with open(os.path.join(args["data_dir"], "run_id"), "w") as f:
        f.write(str(flow.state["id"]))
    asyncio.run(flow.kickoff_async())
    return {"case": "crash_child", "finished": True}


def case_resume(args: dict[str, str]) -> dict[str, Any]:
    global CALLS_LOG
    t_process = float(args["t0"])
    t_imported = time.time()
    CALLS_LOG = args["calls_log"]
    n = int(args["n"])
    persistence = SyncedPersistence(os.path.join(args["data_dir"], "crew.db"), "FULL")
    with open(os.path.join(args["data_dir"], "run_id")) as f:
        state_id = f.read()
    flow = chain_flow(n, persistence)()
    t_started = time.time()
    asyncio.run(flow.kickoff_async(inputs={"id": state_id}))
    t_done = time.time()
    check(flow.state["last_output"] == expected_chain_output(n), "final output differs from the reference")
    return {
        "case": "resume",
        "restart_to_done_s": t_done - t_process,
        "resume_only_s": t_done - t_started,
        "import_s": t_imported - t_process,
        "resumed_calls": len(CALLS),
    }


def case_script_chain(args: dict[str, str]) -> dict[str, Any]:
    """One durable chain run and nothing else: the harness times this whole process (a user's script)."""
    n = int(args.get("n", "100"))
    durability = args.get("durability", "durable_full")
    flow = chain_flow(n, _persistence(durability, os.path.join(args["data_dir"], "flows.db")))()
    asyncio.run(flow.kickoff_async())
    check(flow.state["last_output"] == expected_chain_output(n), "final output differs from the reference")
    check(len(CALLS) == n, f"{len(CALLS)} mock calls, expected {n}")
    return {"case": "script_chain", "n": n, "mock_calls": len(CALLS)}


def case_concurrent(args: dict[str, str]) -> dict[str, Any]:
    """``runs`` concurrent 3-agent chain flows (kickoff_async, one persisted flow each) on a mock with latency."""
    import resource

    runs = int(args.get("runs", "1000"))
    latency = float(args.get("latency_ms", "100"))
    agents = int(args.get("agents", "3"))

    async def main(path: str) -> tuple[float, list[Any]]:
        cls = chain_flow(agents, _persistence("durable_full", path), latency)
        flows = [cls() for _ in range(runs)]
        t0 = time.perf_counter()
        await asyncio.gather(*(f.kickoff_async() for f in flows))
        return time.perf_counter() - t0, flows

    with tempfile.TemporaryDirectory(prefix="crew-conc-") as tmp:
        wall, flows = asyncio.run(main(os.path.join(tmp, "flows.db")))
    check(all(f.state["last_output"] == expected_chain_output(agents) for f in flows), "a run's output differs")
    check(len(CALLS) == runs * agents, f"{len(CALLS)} mock calls, expected {runs * agents}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"case": "concurrent", "runs": runs, "wall_s": wall, "ideal_s": agents * latency / 1000, "peak_rss": peak}


def case_prompt(args: dict[str, str]) -> dict[str, Any]:
    """The messages one chain step sends its LLM for the task (the harness counts their tokens)."""
    sent: list[Any] = []
    original = MockLLM._reply

    def capture(self: MockLLM, messages: Any) -> str:
        sent.append([{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages))
        return original(self, messages)

    MockLLM._reply = capture  # type: ignore[method-assign]
    flow = chain_flow(1, None)()
    asyncio.run(flow.kickoff_async())
    check(flow.state["last_output"] == expected_chain_output(1), "final output differs from the reference")
    return {"case": "prompt", "messages": sent[0], "tools": []}


CASES = {
    "script_chain": case_script_chain,
    "concurrent": case_concurrent,
    "prompt": case_prompt,
    "chain": case_chain,
    "dag": case_dag,
    "idle": case_idle,
    "crash_child": case_crash_child,
    "resume": case_resume,
}


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in CASES:
        raise SystemExit(f"usage: python -m benchmarks.peer_crewai {{{','.join(CASES)}}} [--key value ...]")
    result = CASES[argv[0]](parse_args(argv[1:]))
    emit({"framework": "crewai", **result})


if __name__ == "__main__":
    main(sys.argv[1:])
