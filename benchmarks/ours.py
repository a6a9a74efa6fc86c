"""axocoatl's side of every workload. Run one case per process:

    .venv/bin/python -m benchmarks.ours CASE --key value ...

Cases: chain, dag, idle, crash_child, resume, recall. Each prints one JSON line (see common.emit).
The agent here is an axocoatl ``Agent`` actor on the ``mock`` provider (zero latency by default):
a turn builds the request, counts its tokens for the budget pre-flight, streams the mock reply,
and commits the session messages, the token ledger and the step result in one transaction.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from benchmarks.common import (
    TASK,
    chain_ids,
    check,
    dag_ids,
    emit,
    expected_chain_output,
    expected_dag_output,
    parse_args,
    rss_bytes,
    settle,
)


def _config(agents: list[dict[str, Any]], synchronous: str = "full") -> Any:
    from axocoatl.config.schema import AxocoatlConfig

    return AxocoatlConfig.model_validate(
        {
            "agents": agents,
            "workflows": [{"id": "bench", "agents": [a["id"] for a in agents], "timeout_secs": 3600}],
            "store": {"synchronous": synchronous},
        }
    )


def _chain_config(n: int, synchronous: str, options: dict[str, Any] | None = None) -> Any:
    ids = chain_ids(n)
    agents: list[dict[str, Any]] = []
    for i, agent in enumerate(ids):
        spec: dict[str, Any] = {"id": agent, "provider": "mock"}
        if i:
            spec["depends_on"] = [ids[i - 1]]
        if options:
            spec["options"] = options
        agents.append(spec)
    return _config(agents, synchronous)


def _dag_config(width: int, synchronous: str) -> Any:
    root, workers, join = dag_ids(width)
    agents: list[dict[str, Any]] = [{"id": root, "provider": "mock"}]
    agents += [{"id": w, "provider": "mock", "depends_on": [root]} for w in workers]
    agents.append({"id": join, "provider": "mock", "depends_on": workers})
    return _config(agents, synchronous)


def _counting_mock(log_path: str | None = None) -> Any:
    """The stock MockProvider, counting its calls; with ``log_path`` each call is logged (fsynced)
    as it starts, so a process killed during a call's latency has that call on record."""
    from axocoatl.providers.mock import MockProvider

    class CountingMock(MockProvider):
        calls = 0

        def reply_text(self, request: Any, options: Any, last_user: str) -> str:
            CountingMock.calls += 1
            return super().reply_text(request, options, last_user)

    class LoggingMock(CountingMock):
        async def stream(self, request: Any) -> Any:
            with open(str(log_path), "a") as f:
                f.write(f"{request.metadata.get('agent_id')}\n")
                f.flush()
                os.fsync(f.fileno())
            async for event in super().stream(request):
                yield event

    return CountingMock() if log_path is None else LoggingMock()


def _store(durability: str, data_dir: Path) -> Any:
    """durable_full / durable_normal: the configured SQLite file; nondurable: the same store in memory."""
    from axocoatl.store import SQLiteStore

    if durability == "nondurable":
        return SQLiteStore(Path(":memory:"))
    return SQLiteStore(data_dir / "axocoatl.db", synchronous=durability.removeprefix("durable_"))


def _without_memory() -> None:
    """Build agents without their memory pipeline (an experiment: the engine alone, as bare as the peers' nodes)."""
    from axocoatl.agents.actor import Agent
    from axocoatl.runtime.runtime import Runtime

    def build(self: Any, agent_id: str) -> Agent:
        config = self.config.agent(agent_id)
        return Agent(
            config,
            provider=lambda: self.provider(config.provider),
            toolbox=lambda: self.tools.view(agent_id, config.tools),
            store=self.store,
            clock=self.clock,
            counter=self.counter,
        )

    Runtime._build_agent = build  # type: ignore[method-assign]


async def _one_run(config: Any, durability: str, data_dir: Path, provider: Any) -> tuple[float, float, Any]:
    from axocoatl.runtime.runtime import Runtime

    async with Runtime(
        config, data_dir=data_dir, providers={"mock": provider}, store=_store(durability, data_dir)
    ) as rt:
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        run = await rt.run_workflow("bench", TASK)
        w1, c1 = time.perf_counter(), time.process_time()
    return w1 - w0, c1 - c0, run


async def _timed_workflow(config: Any, durability: str, steps: int, expected: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="axo-bench-") as tmp:
        # Warm-up run (imports, tokenizer, SQLite page cache) on its own data dir, then the timed run
        # on a fresh one, so the timed agents start with empty sessions like the peers' threads.
        await _one_run(config, durability, Path(tmp) / "warm", _counting_mock())
        provider = _counting_mock()
        type(provider).calls = 0
        wall, cpu, run = await _one_run(config, durability, Path(tmp) / "timed", provider)
    check(run.status == "completed", f"run ended {run.status}: {run.error}")
    check(run.final_output == expected, "final output differs from the reference")
    check(type(provider).calls == steps, f"{type(provider).calls} mock calls, expected {steps}")
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "steps": steps,
        "ms_per_step": wall / steps * 1000,
        "cpu_ms_per_step": cpu / steps * 1000,
        "mock_calls": type(provider).calls,
        "output_len": len(run.final_output or ""),
    }


def case_chain(args: dict[str, str]) -> dict[str, Any]:
    n = int(args.get("n", "100"))
    durability = args.get("durability", "durable_full")
    sync = "normal" if durability == "durable_normal" else "full"
    if args.get("memory", "on") == "off":
        _without_memory()
    result = asyncio.run(_timed_workflow(_chain_config(n, sync), durability, n, expected_chain_output(n)))
    return {"case": "chain", "n": n, "durability": durability, **result}


def case_dag(args: dict[str, str]) -> dict[str, Any]:
    width = int(args.get("width", "200"))
    durability = args.get("durability", "durable_normal")
    sync = "normal" if durability == "durable_normal" else "full"
    if args.get("memory", "on") == "off":
        _without_memory()
    steps = width + 2
    result = asyncio.run(_timed_workflow(_dag_config(width, sync), durability, steps, expected_dag_output(width)))
    return {"case": "dag", "width": width, "durability": durability, "ms_per_run": result["wall_s"] * 1000, **result}


def case_idle(args: dict[str, str]) -> dict[str, Any]:
    """10,000 configured agents in a started Runtime, idle. Bytes per agent: RSS and tracemalloc deltas."""
    n = int(args.get("n", "10000"))
    trace = args.get("tracemalloc", "1") == "1"

    async def main() -> dict[str, Any]:
        from axocoatl.config.schema import AxocoatlConfig
        from axocoatl.runtime.runtime import Runtime

        with tempfile.TemporaryDirectory(prefix="axo-idle-") as tmp:
            # Warm the code paths once with a tiny runtime so lazily built caches are not counted.
            async with Runtime(_config([{"id": "warm", "provider": "mock"}]), data_dir=Path(tmp) / "w"):
                pass
            specs = [
                {"id": f"agent{i:05d}", "provider": "mock", "system_prompt": f"You are agent {i}."} for i in range(n)
            ]
            settle()
            if trace:
                tracemalloc.start()
            rss0 = rss_bytes()
            t0 = time.perf_counter()
            config = AxocoatlConfig.model_validate({"agents": specs})
            del specs
            settle()
            rss_config = rss_bytes()
            traced_config = tracemalloc.get_traced_memory()[0] if trace else 0
            rt = Runtime(config, data_dir=Path(tmp) / "rt")
            await rt.start()
            started = time.perf_counter() - t0
            await asyncio.sleep(0.05)  # let anything the start scheduled settle: the agents are idle now
            settle()
            rss1 = rss_bytes()
            traced1 = tracemalloc.get_traced_memory()[0] if trace else 0
            check(len(rt.agents) == n, f"{len(rt.agents)} agents, expected {n}")
            tasks = len(asyncio.all_tasks())
            await rt.aclose()
            return {
                "case": "idle",
                "n": n,
                "rss_bytes_per_agent": (rss1 - rss0) / n,
                "rss_runtime_bytes_per_agent": (rss1 - rss_config) / n,
                "rss_config_bytes_per_agent": (rss_config - rss0) / n,
                "tracemalloc_bytes_per_agent": traced1 / n if trace else None,
                "tracemalloc_runtime_bytes_per_agent": (traced1 - traced_config) / n if trace else None,
                "tracemalloc_config_bytes_per_agent": traced_config / n if trace else None,
                "start_s": started,
                "asyncio_tasks_when_idle": tasks,
            }

    return asyncio.run(main())


def case_crash_child(args: dict[str, str]) -> dict[str, Any]:
    """Start a chain run whose mock has latency; the parent kills this process with SIGKILL mid-run."""
    n = int(args["n"])
    data_dir = Path(args["data_dir"])
    latency = float(args.get("latency_ms", "20"))

    async def main() -> None:
        from axocoatl.runtime.runtime import Runtime

        config = _chain_config(n, "full", {"latency_ms": latency})
        async with Runtime(config, data_dir=data_dir, providers={"mock": _counting_mock(args["calls_log"])}) as rt:
            run_id, done = await rt.start_workflow("bench", TASK)
            (data_dir / "run_id").write_text(run_id)
            await done

    asyncio.run(main())
    return {"case": "crash_child", "finished": True}


def case_resume(args: dict[str, str]) -> dict[str, Any]:
    """Restart after the kill: resume the interrupted run to completion (mock at zero latency)."""
    t_process = float(args["t0"])  # the parent's wall clock just before it spawned this process
    n = int(args["n"])
    data_dir = Path(args["data_dir"])

    async def main() -> dict[str, Any]:
        from axocoatl.runtime.runtime import Runtime

        t_imported = time.time()
        provider = _counting_mock(args["calls_log"])
        config = _chain_config(n, "full")
        run_id = (data_dir / "run_id").read_text()
        async with Runtime(config, data_dir=data_dir, providers={"mock": provider}) as rt:
            t_started = time.time()
            run = await rt.resume_run(run_id)
            t_done = time.time()
        check(run.status == "completed", f"resumed run ended {run.status}: {run.error}")
        check(run.final_output == expected_chain_output(n), "final output differs from the reference")
        return {
            "restart_to_done_s": t_done - t_process,
            "runtime_start_to_done_s": t_done - t_started,
            "resume_only_s": t_done - t_started,
            "import_s": t_imported - t_process,
            "resumed_calls": type(provider).calls,
            "attempts_max": max(s.attempts for s in run.steps),
        }

    result = asyncio.run(main())
    return {"case": "resume", **result}


def case_recall(args: dict[str, str]) -> dict[str, Any]:
    """recall_search's engine: top-k cosine over n stored memories (the hashed-v1 embedder embeds the query;
    the stored vectors are random unit vectors of the same width, loaded without the store)."""
    import numpy as np

    from axocoatl.core.ids import SystemClock
    from axocoatl.memory.embedding import HashedEmbedder
    from axocoatl.memory.semantic import SemanticMemory

    n = int(args.get("n", "10000"))
    queries = int(args.get("queries", "50"))

    async def main() -> dict[str, Any]:
        embedder = HashedEmbedder()
        memory = SemanticMemory("bench", None, embedder, SystemClock(), persist=False)  # type: ignore[arg-type]
        rng = np.random.default_rng(7)
        vectors = rng.standard_normal((n, embedder.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        memory.add_vectors([f"memory {i}" for i in range(n)], vectors, 1.0)
        await memory.search("warm up the code path", 5)
        times = []
        for i in range(queries):
            t0 = time.perf_counter()
            found = await memory.search(f"what did we decide about topic {i}?", 5)
            times.append(time.perf_counter() - t0)
            check(len(found) == 5, f"{len(found)} results, expected 5")
        times.sort()
        return {"case": "recall", "n": n, "ms_per_query": times[len(times) // 2] * 1000, "queries": queries}

    return asyncio.run(main())


TURN_TIMEOUT_S = 300  # agents' default timeout_secs: the daemon's own limit on one execute


def case_daemon(args: dict[str, str]) -> dict[str, Any]:
    """POST /api/agents/{id}/execute against `axocoatl serve` on 127.0.0.1 (wrk, else an httpx client)."""
    import json
    import subprocess

    concurrency = int(args.get("concurrency", "64"))
    total = int(args.get("requests", "2000"))
    with tempfile.TemporaryDirectory(prefix="axo-daemon-") as tmp:
        agents = [f"agent{i:02d}" for i in range(concurrency)]
        # window: memory.max_session_messages (the default 100 keeps a short thread's exchanges in context)
        memory = f", memory: {{max_session_messages: {int(args['window'])}}}" if args.get("window") else ""
        lines = ["agents:"] + [f"  - {{id: {a}, provider: mock{memory}}}" for a in agents]
        (Path(tmp) / "axocoatl.yaml").write_text("\n".join(lines) + "\n")  # the defaults: synchronous full
        data_dir = Path(tmp) / "data"
        log = open(Path(tmp) / "daemon.log", "w")  # noqa: SIM115 - the child writes to it until the end
        proc = subprocess.Popen(
            [sys.executable, "-m", "axocoatl", "--data-dir", str(data_dir), "serve", "--port", "0"],
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "NO_COLOR": "1",
                **({"AXOCOATL_EMBEDDER": args["embedder"]} if args.get("embedder") else {}),
            },
        )
        try:
            deadline = time.monotonic() + 60
            url = ""
            while time.monotonic() < deadline and not url:
                check(proc.poll() is None, f"daemon exited: {(Path(tmp) / 'daemon.log').read_text()[-2000:]}")
                try:
                    info = json.loads((data_dir / "daemon.json").read_text())
                    if info.get("pid") == proc.pid:
                        url = str(info["url"])
                except (OSError, ValueError):
                    time.sleep(0.05)
            check(bool(url), "daemon did not come up")

            if args.get("load", "wrk") == "wrk" and shutil.which("wrk"):
                result = _wrk_load(url, agents, float(args.get("seconds", "10")))
            else:
                result = _httpx_load(url, agents, total)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    return {"case": "daemon", "concurrency": concurrency, **result}


def _wrk_load(url: str, agents: list[str], seconds: float) -> dict[str, Any]:
    """wrk (C) as the load generator: a Python client saturates the 2 cores before the daemon does."""
    import subprocess

    script = Path(tempfile.mkdtemp(prefix="axo-wrk-")) / "post.lua"
    script.write_text(
        "local n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        f'  local agent = string.format("agent%02d", n % {len(agents)})\n'
        '  return wrk.format("POST", "/api/agents/" .. agent .. "/execute", '
        '{["Content-Type"] = "application/json"}, \'{"input": "request \' .. n .. \'"}\')\n'
        "end\n"
    )
    # wrk's default 2 s timeout counts a slow answer as a socket error; wait as long as the daemon would.
    options = [f"-c{len(agents)}", f"-d{seconds:g}s", f"--timeout={TURN_TIMEOUT_S}s", "--latency", "-s", str(script)]
    out = subprocess.run(
        ["wrk", "-t2", *options, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    check("Non-2xx" not in out and "Socket errors" not in out, f"wrk saw errors:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {
        "load_generator": "wrk",
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "requests_per_s": rate,
        "p50_ms": _wrk_ms(out, "50%"),
        "p99_ms": _wrk_ms(out, "99%"),
    }


def _wrk_ms(out: str, quantile: str) -> float:
    match = re.search(rf"{re.escape(quantile)}\s+([\d.]+)(us|ms|s)\b", out)
    check(match is not None, f"no {quantile} latency in wrk's output:\n{out}")
    assert match is not None
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def _httpx_load(url: str, agents: list[str], total: int) -> dict[str, Any]:
    """Fallback load generator when wrk is not installed (it becomes the bottleneck on 2 cores)."""
    import httpx

    async def load() -> tuple[float, list[float]]:
        latencies: list[float] = []
        counter = iter(range(total))
        # The timeout is the agents' own limit on a turn: the client never gives up before the daemon
        # would (at 256 connections on a loaded machine single answers took up to 95 s).
        limits = httpx.Limits(max_connections=len(agents), max_keepalive_connections=len(agents))
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=TURN_TIMEOUT_S) as client:

            async def worker(agent: str) -> None:
                for i in counter:
                    t0 = time.perf_counter()
                    r = await client.post(f"/api/agents/{agent}/execute", json={"input": f"request {i}"})
                    latencies.append(time.perf_counter() - t0)
                    check(r.status_code == 200, f"HTTP {r.status_code}: {r.text[:300]}")

            await client.post(f"/api/agents/{agents[0]}/execute", json={"input": "warm up"})
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(a) for a in agents))
            return time.perf_counter() - t0, latencies

    elapsed, latencies = asyncio.run(load())
    latencies.sort()
    check(len(latencies) == total, f"{len(latencies)} responses, expected {total}")
    return {
        "load_generator": "httpx",
        "requests": total,
        "requests_per_s": total / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


# The agent spec `axocoatl init` writes (memory tools on, a budget), on the default mock reply.
INIT_AGENT: dict[str, Any] = {
    "provider": "mock",
    "system_prompt": "You research the user's question. Reply with short, factual notes as a bullet list.",
    "sampling": {"max_tokens": 200, "temperature": 0.2},
    "memory": {"tools": True},
    "token_budget": {"per_execution": 4000, "per_call": 2048},
}


def init_chain_yaml(n: int, *, memory_tools: bool = True, synchronous: str | None = None) -> str:
    """A project config of ``n`` chained agents as `axocoatl init` writes them (JSON is YAML)."""
    import json

    ids = chain_ids(n)
    agents = []
    for i, agent in enumerate(ids):
        spec = {"id": agent, **INIT_AGENT, "memory": {"tools": memory_tools}}
        if i:
            spec["depends_on"] = [ids[i - 1]]
        agents.append(spec)
    config: dict[str, Any] = {"agents": agents, "workflows": [{"id": "bench", "agents": ids, "timeout_secs": 3600}]}
    if synchronous:
        config["store"] = {"synchronous": synchronous}
    return json.dumps(config, indent=1) + "\n"


def case_concurrent(args: dict[str, str]) -> dict[str, Any]:
    """``runs`` concurrent runs of a 3-agent chain (the init defaults: MiniLM memory, synchronous full)
    on the mock with ``latency_ms`` per call, in one Runtime."""
    import resource

    runs = int(args.get("runs", "1000"))
    latency = float(args.get("latency_ms", "100"))
    agents = int(args.get("agents", "3"))

    async def main() -> tuple[float, list[Any], int]:
        from axocoatl.config.schema import AxocoatlConfig
        from axocoatl.runtime.runtime import Runtime

        ids = chain_ids(agents)
        specs = [
            {"id": a, **INIT_AGENT, "options": {"latency_ms": latency}, **({"depends_on": [ids[i - 1]]} if i else {})}
            for i, a in enumerate(ids)
        ]
        config = AxocoatlConfig.model_validate(
            {"agents": specs, "workflows": [{"id": "bench", "agents": ids, "timeout_secs": 3600}]}
        )
        provider = _counting_mock()
        with tempfile.TemporaryDirectory(prefix="axo-conc-") as tmp:
            async with Runtime(config, data_dir=Path(tmp), providers={"mock": provider}) as rt:
                t0 = time.perf_counter()
                # All started at once, as the peers do (LangGraph's abatch, CrewAI's gathered kickoff_async):
                # each start commits the run durably, so awaiting them one by one would time N serial fsyncs.
                started = await asyncio.gather(*(rt.start_workflow("bench", TASK) for _ in range(runs)))
                done = await asyncio.gather(*(task for _, task in started))
                wall = time.perf_counter() - t0
        return wall, done, type(provider).calls

    wall, done, calls = asyncio.run(main())
    check(all(r.status == "completed" for r in done), "a run did not complete")
    check(all(r.final_output == expected_chain_output(agents) for r in done), "a run's output differs")
    check(calls == runs * agents, f"{calls} mock calls, expected {runs * agents}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"case": "concurrent", "runs": runs, "wall_s": wall, "ideal_s": agents * latency / 1000, "peak_rss": peak}


LOCAL_PROMPT = "Write a short paragraph about write-ahead logging in databases."


def case_local(args: dict[str, str]) -> dict[str, Any]:
    """Tokens/s of the ``local`` provider (its default GGUF) vs llama-cpp-python called directly on the same
    file, prompt, context size, thread count and greedy sampling; alternated, after one warm-up each."""
    from axocoatl.core.messages import ChatMessage
    from axocoatl.providers.base import ChatRequest, ResponseAccumulator, TextDelta
    from axocoatl.providers.local import LocalProvider, load_model, resolve_model_path
    from axocoatl.providers.local.files import import_llama_cpp

    max_tokens = int(args.get("max_tokens", "128"))
    reps = int(args.get("reps", "3"))
    provider = LocalProvider()
    path = resolve_model_path("", provider.config)
    shared = load_model(path, provider.config.n_ctx, provider.config.n_threads)
    llama_cpp = import_llama_cpp()
    raw = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=provider.config.n_ctx,
        n_threads=shared.n_threads,
        n_threads_batch=shared.n_threads,
        seed=provider.config.seed,
        verbose=False,
    )
    request = ChatRequest(model="", messages=(ChatMessage.user(LOCAL_PROMPT),), temperature=0.0, max_tokens=max_tokens)

    async def ours() -> tuple[float, float, int]:
        acc = ResponseAccumulator("local")
        t0 = time.perf_counter()
        first = 0.0
        async for event in provider.stream(request):
            if not first and isinstance(event, TextDelta):
                first = time.perf_counter()
            acc.add(event)
        wall = time.perf_counter() - t0
        usage = acc.response().usage
        return wall, wall - (first - t0), usage.output if usage else 0

    def direct() -> tuple[float, float, int]:
        t0 = time.perf_counter()
        first = 0.0
        pieces = 0
        for chunk in raw.create_chat_completion(
            messages=[{"role": "user", "content": LOCAL_PROMPT}], max_tokens=max_tokens, temperature=0.0, stream=True
        ):
            if chunk["choices"][0]["delta"].get("content"):
                pieces += 1  # llama-cpp-python streams one chunk per sampled token
                first = first or time.perf_counter()
        wall = time.perf_counter() - t0
        return wall, wall - (first - t0), pieces

    asyncio.run(ours())
    direct()
    # End to end (prompt evaluation included) and decoding only (first token to last): llama-cpp-python
    # reuses the whole cached prompt of the previous identical call, the local provider re-evaluates the
    # prompt's last partial chunk (so a reply never depends on what ran before), so decoding is the
    # like-for-like figure.
    rates: dict[str, list[float]] = {"ours": [], "direct": [], "ours_e2e": [], "direct_e2e": []}
    for _ in range(reps):
        for name, fn in (("ours", lambda: asyncio.run(ours())), ("direct", direct)):
            wall, decode, tokens = fn()
            rates[f"{name}_e2e"].append(tokens / wall)
            rates[name].append((tokens - 1) / decode if tokens > 1 and decode > 0 else 0.0)
    med = {k: sorted(v)[len(v) // 2] for k, v in rates.items()}
    return {
        "case": "local",
        "model": path.name,
        "threads": shared.n_threads,
        "ours_tokens_per_s": med["ours"],
        "direct_tokens_per_s": med["direct"],
        "ours_e2e_tokens_per_s": med["ours_e2e"],
        "direct_e2e_tokens_per_s": med["direct_e2e"],
        "samples": rates,
    }


def case_embed_query(args: dict[str, str]) -> dict[str, Any]:
    """p50 of embedding one recall query with the default embedder (MiniLM when installed): new queries
    (a forward pass each) and a query asked again (the text cache)."""
    from axocoatl.memory.embedding import default_embedder

    queries = int(args.get("queries", "50"))
    embedder = default_embedder()
    embedder.embed(["warm up the model"])

    def p50(texts: list[str]) -> float:
        times = []
        for text in texts:
            t0 = time.perf_counter()
            embedder.embed([text])
            times.append(time.perf_counter() - t0)
        return sorted(times)[len(times) // 2] * 1000

    new = p50([f"what did we decide about topic {i} last week?" for i in range(queries)])
    repeated = p50(["what did we decide about topic 0 last week?"] * queries)
    return {"case": "embed_query", "embedder": embedder.id, "new_ms": new, "repeated_ms": repeated, "queries": queries}


CASES = {
    "embed_query": case_embed_query,
    "local": case_local,
    "concurrent": case_concurrent,
    "chain": case_chain,
    "dag": case_dag,
    "idle": case_idle,
    "crash_child": case_crash_child,
    "resume": case_resume,
    "recall": case_recall,
    "daemon": case_daemon,
}


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in CASES:
        raise SystemExit(f"usage: python -m benchmarks.ours {{{','.join(CASES)}}} [--key value ...]")
    result = CASES[argv[0]](parse_args(argv[1:]))
    emit({"framework": "axocoatl", **result})


if __name__ == "__main__":
    main(sys.argv[1:])
