"""LangGraph's side of the workloads (runs in the peers' venv, never in axocoatl's).

    .cache/bench-peers-venv/bin/python -m benchmarks.peer_langgraph CASE --key value ...

The agent here is a LangGraph node that calls its own chat model (a ``BaseChatModel``
subclass answering with ``common.mock_reply`` on the last human message, natively async,
no thread hop). Durable = ``SqliteSaver`` / ``AsyncSqliteSaver`` with ``durability="sync"``
(the checkpoint of each super-step is written before the next one starts), with the
connection's ``PRAGMA synchronous`` set to FULL or NORMAL (LangGraph's saver puts the file
in WAL mode itself); non-durable = no checkpointer.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, StateGraph

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


def _record(agent_id: str) -> None:
    CALLS.append(agent_id)
    if CALLS_LOG is not None:
        with open(CALLS_LOG, "a") as f:
            f.write(agent_id + "\n")
            f.flush()
            os.fsync(f.fileno())


class MockChat(BaseChatModel):
    """Deterministic, prompt-driven: the reply is mock_reply(agent_id, last human message)."""

    agent_id: str
    latency_ms: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "bench-mock"

    def _record(self) -> None:
        _record(self.agent_id)

    def _reply(self, messages: list[BaseMessage]) -> ChatResult:
        last = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
        text = mock_reply(self.agent_id, str(last.content))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self._record()
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        return self._reply(messages)

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self._record()
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        return self._reply(messages)


class ChainState(TypedDict, total=False):
    last_agent: str
    last_output: str


def _merge(a: dict[str, str], b: dict[str, str]) -> dict[str, str]:
    return {**a, **b}


class DagState(TypedDict, total=False):
    outputs: Annotated[dict[str, str], _merge]


def chain_graph(n: int, latency_ms: float = 0.0) -> StateGraph:
    """a0000 -> a0001 -> ... ; each node sends the documented upstream template to its model."""
    graph = StateGraph(ChainState)
    ids = chain_ids(n)
    for agent in ids:
        model = MockChat(agent_id=agent, latency_ms=latency_ms)

        def node(state: ChainState, model: MockChat = model, agent: str = agent) -> ChainState:
            prev = state.get("last_agent")
            prompt = TASK if prev is None else upstream_input(TASK, [(prev, state["last_output"])])
            reply = model.invoke([HumanMessage(prompt)])
            return {"last_agent": agent, "last_output": str(reply.content)}

        async def anode(state: ChainState, model: MockChat = model, agent: str = agent) -> ChainState:
            prev = state.get("last_agent")
            prompt = TASK if prev is None else upstream_input(TASK, [(prev, state["last_output"])])
            reply = await model.ainvoke([HumanMessage(prompt)])
            return {"last_agent": agent, "last_output": str(reply.content)}

        graph.add_node(agent, _Both(node, anode))  # type: ignore[call-overload]
    graph.add_edge(START, ids[0])
    for a, b in itertools.pairwise(ids):
        graph.add_edge(a, b)
    graph.add_edge(ids[-1], END)
    return graph


def dag_graph(width: int) -> StateGraph:
    """root -> width workers in one super-step -> join (a join edge waits for all of them)."""
    root, workers, join = dag_ids(width)
    graph = StateGraph(DagState)

    def make(agent: str, upstream: list[str]) -> Any:
        model = MockChat(agent_id=agent)

        def prompt_of(state: DagState) -> str:
            outputs = state.get("outputs", {})
            return upstream_input(TASK, [(u, outputs[u]) for u in upstream if u in outputs])

        def node(state: DagState) -> DagState:
            reply = model.invoke([HumanMessage(prompt_of(state))])
            return {"outputs": {agent: str(reply.content)}}

        async def anode(state: DagState) -> DagState:
            reply = await model.ainvoke([HumanMessage(prompt_of(state))])
            return {"outputs": {agent: str(reply.content)}}

        return _Both(node, anode)

    graph.add_node(root, make(root, []))
    for w in workers:
        graph.add_node(w, make(w, [root]))
        graph.add_edge(root, w)
    graph.add_node(join, make(join, workers))
    graph.add_edge(START, root)
    graph.add_edge(workers, join)
    graph.add_edge(join, END)
    return graph


class _Both:
    """A node with a sync and an async body (LangGraph's RunnableCallable picks the right one)."""

    def __new__(cls, sync: Any, asyn: Any) -> Any:
        from langgraph._internal._runnable import RunnableCallable

        return RunnableCallable(sync, asyn, name=getattr(sync, "__name__", "node"))


def _sync_saver(path: str, synchronous: str) -> Any:
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(path, check_same_thread=False)
    saver = SqliteSaver(conn)
    saver.setup()  # sets journal_mode=WAL
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return saver


async def _async_saver(path: str, synchronous: str) -> Any:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    conn = await aiosqlite.connect(path)
    saver = AsyncSqliteSaver(conn)
    await saver.setup()
    await conn.execute(f"PRAGMA synchronous={synchronous}")
    return saver


def _durability(saver: Any) -> dict[str, Any]:
    """durability="sync" needs a checkpointer; without one there is nothing to persist."""
    return {} if saver is None else {"durability": "sync"}


def _run(graph: StateGraph, durability: str, mode: str, path: str, thread: str) -> tuple[float, float, dict[str, Any]]:
    """Compile with the durability's checkpointer and run the graph once; (wall, cpu, final state)."""
    sync = "NORMAL" if durability == "durable_normal" else "FULL"
    config = {"configurable": {"thread_id": thread}, "recursion_limit": 100_000}
    if mode == "sync":
        saver = None if durability == "nondurable" else _sync_saver(path, sync)
        app = graph.compile(checkpointer=saver)
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        state = app.invoke({}, config, **_durability(saver))
        w1, c1 = time.perf_counter(), time.process_time()
        if saver is not None:
            saver.conn.close()
        return w1 - w0, c1 - c0, state

    async def main() -> tuple[float, float, dict[str, Any]]:
        saver = None if durability == "nondurable" else await _async_saver(path, sync)
        app = graph.compile(checkpointer=saver)
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        state = await app.ainvoke({}, config, **_durability(saver))
        w1, c1 = time.perf_counter(), time.process_time()
        if saver is not None:
            await saver.conn.close()
        return w1 - w0, c1 - c0, state

    return asyncio.run(main())


def _timed(graph: StateGraph, durability: str, mode: str, steps: int) -> tuple[dict[str, Any], dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="lg-bench-") as tmp:
        _run(graph, durability, mode, os.path.join(tmp, "warm.db"), "warm")
        CALLS.clear()
        wall, cpu, state = _run(graph, durability, mode, os.path.join(tmp, "timed.db"), "timed")
    check(len(CALLS) == steps, f"{len(CALLS)} mock calls, expected {steps}")
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "steps": steps,
        "ms_per_step": wall / steps * 1000,
        "cpu_ms_per_step": cpu / steps * 1000,
        "mock_calls": len(CALLS),
        "mode": mode,
    }, state


def case_chain(args: dict[str, str]) -> dict[str, Any]:
    n = int(args.get("n", "100"))
    durability = args.get("durability", "durable_full")
    result, state = _timed(chain_graph(n), durability, args.get("mode", "sync"), n)
    check(state["last_output"] == expected_chain_output(n), "final output differs from the reference")
    return {"case": "chain", "n": n, "durability": durability, **result}


def case_dag(args: dict[str, str]) -> dict[str, Any]:
    width = int(args.get("width", "200"))
    durability = args.get("durability", "durable_normal")
    result, state = _timed(dag_graph(width), durability, args.get("mode", "async"), width + 2)
    check(state["outputs"]["join"] == expected_dag_output(width), "final output differs from the reference")
    return {"case": "dag", "width": width, "durability": durability, "ms_per_run": result["wall_s"] * 1000, **result}


def case_idle(args: dict[str, str]) -> dict[str, Any]:
    """n idle agents = n compiled one-node graphs, each with its own chat model, sharing one in-memory saver."""
    from langgraph.checkpoint.memory import InMemorySaver

    n = int(args.get("n", "10000"))
    trace = args.get("tracemalloc", "1") == "1"

    def build(i: int, saver: Any) -> Any:
        agent = f"agent{i:05d}"
        model = MockChat(agent_id=agent)
        graph = StateGraph(ChainState)

        def node(state: ChainState) -> ChainState:
            return {"last_output": str(model.invoke([HumanMessage(TASK)]).content)}

        graph.add_node(agent, node)
        graph.add_edge(START, agent)
        return graph.compile(checkpointer=saver)

    saver = InMemorySaver()
    build(-1, saver)  # warm the code paths
    settle()
    if trace:
        tracemalloc.start()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    agents = [build(i, saver) for i in range(n)]
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
        "agent_is": "a compiled one-node StateGraph with its own chat model (shared InMemorySaver)",
    }


def case_crash_child(args: dict[str, str]) -> dict[str, Any]:
    global CALLS_LOG
    CALLS_LOG = args["calls_log"]
    n = int(args["n"])
    saver = _sync_saver(os.path.join(args["data_dir"], "lg.db"), "FULL")
    app = chain_graph(n, float(args.get("latency_ms", "20"))).compile(checkpointer=saver)
    app.invoke({}, {"configurable": {"thread_id": "crash"}, "recursion_limit": 100_000}, durability="sync")
    return {"case": "crash_child", "finished": True}


def case_resume(args: dict[str, str]) -> dict[str, Any]:
    global CALLS_LOG
    t_process = float(args["t0"])
    t_imported = time.time()
    CALLS_LOG = args["calls_log"]
    n = int(args["n"])
    saver = _sync_saver(os.path.join(args["data_dir"], "lg.db"), "FULL")
    app = chain_graph(n).compile(checkpointer=saver)
    t_started = time.time()
    state = app.invoke(None, {"configurable": {"thread_id": "crash"}, "recursion_limit": 100_000}, durability="sync")
    t_done = time.time()
    check(state["last_output"] == expected_chain_output(n), "final output differs from the reference")
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
    sync = "NORMAL" if args.get("durability") == "durable_normal" else "FULL"
    path = os.path.join(args["data_dir"], "checkpoints.db")
    saver = _sync_saver(path, sync)
    app = chain_graph(n).compile(checkpointer=saver)
    state = app.invoke({}, {"configurable": {"thread_id": "run"}, "recursion_limit": 100_000}, **_durability(saver))
    saver.conn.close()
    check(state["last_output"] == expected_chain_output(n), "final output differs from the reference")
    check(len(CALLS) == n, f"{len(CALLS)} mock calls, expected {n}")
    return {"case": "script_chain", "n": n, "mock_calls": len(CALLS)}


def case_concurrent(args: dict[str, str]) -> dict[str, Any]:
    """``runs`` concurrent 3-agent chains on a mock with latency (abatch over threads of one durable saver)."""
    import resource

    runs = int(args.get("runs", "1000"))
    latency = float(args.get("latency_ms", "100"))
    agents = int(args.get("agents", "3"))

    async def main() -> tuple[float, list[dict[str, Any]]]:
        with tempfile.TemporaryDirectory(prefix="lg-conc-") as tmp:
            saver = await _async_saver(os.path.join(tmp, "checkpoints.db"), "FULL")
            app = chain_graph(agents, latency).compile(checkpointer=saver)
            configs = [{"configurable": {"thread_id": f"t{i}"}, "recursion_limit": 1000} for i in range(runs)]
            t0 = time.perf_counter()
            states = await app.abatch([{} for _ in range(runs)], configs, max_concurrency=runs, **_durability(saver))
            wall = time.perf_counter() - t0
            await saver.conn.close()
            return wall, states

    wall, states = asyncio.run(main())
    check(all(s["last_output"] == expected_chain_output(agents) for s in states), "a run's output differs")
    check(len(CALLS) == runs * agents, f"{len(CALLS)} mock calls, expected {runs * agents}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"case": "concurrent", "runs": runs, "wall_s": wall, "ideal_s": agents * latency / 1000, "peak_rss": peak}


def case_prompt(args: dict[str, str]) -> dict[str, Any]:
    """The messages one chain node sends its model for the task (the harness counts their tokens)."""
    sent: list[list[dict[str, str]]] = []
    original = MockChat._reply

    def capture(self: MockChat, messages: list[BaseMessage]) -> ChatResult:
        sent.append([{"role": m.type, "content": str(m.content)} for m in messages])
        return original(self, messages)

    MockChat._reply = capture  # type: ignore[method-assign]
    state = chain_graph(1).compile().invoke({})
    check(state["last_output"] == expected_chain_output(1), "final output differs from the reference")
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
        raise SystemExit(f"usage: python -m benchmarks.peer_langgraph {{{','.join(CASES)}}} [--key value ...]")
    result = CASES[argv[0]](parse_args(argv[1:]))
    emit({"framework": "langgraph", **result})


if __name__ == "__main__":
    main(sys.argv[1:])
