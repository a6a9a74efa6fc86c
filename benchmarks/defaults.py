"""Workloads of the default path, as a user runs it: the CLI, the config of `axocoatl init`
(MiniLM memory, synchronous: full), whole processes, repeated runs in one project, many
concurrent runs, the tokens each call carries, and the embedded model.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import Options, Workload, _frameworks, env, failure, run_case

SUMMARY_LINE = re.compile(r"(\d+)/(\d+) steps · [\d,]+ tokens \(([\d,]+) in / ([\d,]+) out\)")


def cli_project(n: int, **config: Any) -> Path:
    """A fresh project directory holding the init-default config of an ``n``-agent chain."""
    from benchmarks.ours import init_chain_yaml

    project = Path(tempfile.mkdtemp(prefix=f"bench-cli{n}-"))
    (project / "axocoatl.yaml").write_text(init_chain_yaml(n, **config))
    return project


def cli_run(project: Path, n: int) -> dict[str, Any]:
    """`axocoatl workflow run bench -i TASK` in ``project`` as a whole process: wall time, tokens."""
    from benchmarks.common import TASK

    cmd = [sys.executable, "-m", "axocoatl", "workflow", "run", "bench", "-i", TASK]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=project, env=env(), capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    match = SUMMARY_LINE.search(proc.stdout + proc.stderr)
    if proc.returncode != 0 or match is None or match.group(1) != match.group(2) or int(match.group(1)) != n:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise RuntimeError(f"axocoatl CLI chain of {n} failed (exit {proc.returncode}):\n{tail}")
    tokens_in = int(match.group(3).replace(",", ""))
    return {"wall_s": wall, "steps": n, "tokens_in": tokens_in, "tokens_in_per_step": tokens_in / n}


def script_run(framework: str, n: int) -> dict[str, Any]:
    """A peer's chain script (benchmarks/peer_*.py script_chain) as a whole process, durable at FULL."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{framework}-") as tmp:
        t0 = time.perf_counter()
        run_case(framework, "script_chain", {"n": n, "durability": "durable_full", "data_dir": tmp})
        return {"wall_s": time.perf_counter() - t0, "steps": n}


def bench_cli_chain(opts: Options) -> list[Workload]:
    """(a) per durable step through whole processes: (T(n agents) - T(1)) / (n - 1), a fresh project each."""
    name = "cli_chain_durable_full"
    if not opts.wants(name):
        return []
    n = opts.chain_n
    w = Workload(name, "ms/step", f"whole processes: (T({n} agents) - T(1)) / {n - 1}, init defaults vs scripts")
    for rep in range(opts.reps):
        for fw in _frameworks(opts):
            times = {}
            for size in (1, n):
                if fw == "axocoatl":
                    project = cli_project(size)
                    times[size] = cli_run(project, size)["wall_s"]
                    shutil.rmtree(project, ignore_errors=True)
                else:
                    times[size] = script_run(fw, size)["wall_s"]
            per_step = (times[n] - times[1]) / (n - 1) * 1000
            w.add(fw, per_step, {"t1_s": times[1], f"t{n}_s": times[n]})
            opts.log(f"  {name} rep {rep + 1}/{opts.reps} {fw}: {per_step:.2f} ms/step")
    return [w]


def bench_steady(opts: Options) -> list[Workload]:
    """(b) the same workflow run ``steady_runs`` times in one project: the last run vs the first."""
    names = ("steady_time_last_over_first", "steady_tokens_last_over_first")
    if not any(opts.wants(x) for x in names):
        return []
    n, runs = opts.chain_n, opts.steady_runs
    t = Workload(names[0], "x", f"run {runs} / run 1 of a {n}-agent chain in one project, time", ("axocoatl",))
    k = Workload(names[1], "x", f"run {runs} / run 1, input tokens per step", ("axocoatl",))
    for rep in range(max(1, min(opts.reps, 3))):
        project = cli_project(n)
        results = [cli_run(project, n) for _ in range(runs)]
        shutil.rmtree(project, ignore_errors=True)
        first, last = results[0], results[-1]
        raw = {"runs": results}
        t.add("axocoatl", last["wall_s"] / first["wall_s"], raw)
        k.add("axocoatl", last["tokens_in_per_step"] / first["tokens_in_per_step"], raw)
        opts.log(
            f"  steady rep {rep + 1}: run 1 {first['wall_s']:.2f} s, run {runs} {last['wall_s']:.2f} s; "
            f"tokens/step {first['tokens_in_per_step']:.0f} -> {last['tokens_in_per_step']:.0f}"
        )
    return [t, k]


def bench_concurrent(opts: Options) -> list[Workload]:
    """(c) many concurrent runs of a 3-agent chain on a mock with 100 ms latency: wall vs 0.3 s, peak RSS."""
    runs = opts.concurrent_runs
    names = (f"concurrent_{runs}_wall", f"concurrent_{runs}_peak_rss")
    if not any(opts.wants(x) for x in names):
        return []
    wall = Workload(names[0], "s", f"{runs} concurrent 3-agent chains, 100 ms per call (ideal 0.3 s)")
    rss = Workload(names[1], "MB", "peak RSS of the same process")
    for rep in range(max(1, min(opts.reps, 3))):
        for fw in _frameworks(opts):
            r = run_case(fw, "concurrent", {"runs": runs, "latency_ms": 100})
            wall.add(fw, r["wall_s"], r)
            rss.add(fw, r["peak_rss"] / 1e6, r)
            opts.log(f"  concurrent rep {rep + 1} {fw}: {r['wall_s']:.2f} s, {r['peak_rss'] / 1e6:.0f} MB")
    return [wall, rss]


def bench_tokens(opts: Options) -> list[Workload]:
    """(d) input tokens one call carries for the same task: ours (init defaults, memory tools off) vs peers."""
    names = ("tokens_per_call", "tokens_per_call_memory_off", "tokens_overhead_per_call")
    if not any(opts.wants(x) for x in names):
        return []
    from axocoatl.core.messages import ChatMessage
    from axocoatl.tokens.counter import TokenCounter
    from benchmarks.common import TASK
    from benchmarks.ours import INIT_AGENT

    counter = TokenCounter()
    bare = counter.count_messages([ChatMessage.system(INIT_AGENT["system_prompt"]), ChatMessage.user(TASK)])
    per_call = Workload(names[0], "tokens", "input tokens of one call for the task (init defaults)")
    off = Workload(names[1], "tokens", "the same, axocoatl with `memory: {tools: false}`", ("axocoatl",))
    overhead = Workload(
        names[2], "tokens", f"axocoatl's tokens beyond the bare prompt ({bare}: system prompt + task)", ("axocoatl",)
    )
    for tools, target in ((True, per_call), (False, off)):
        project = cli_project(1, memory_tools=tools)
        r = cli_run(project, 1)
        shutil.rmtree(project, ignore_errors=True)
        target.add("axocoatl", r["tokens_in"], {"bare": bare, **r})
        if tools:
            overhead.add("axocoatl", r["tokens_in"] - bare, {"bare": bare, **r})
        opts.log(f"  tokens axocoatl (memory tools {tools}): {r['tokens_in']} (bare prompt {bare})")
    role = {"human": "user", "ai": "assistant"}
    for fw in _frameworks(opts):
        if fw == "axocoatl":
            continue
        r = run_case(fw, "prompt", {})
        messages = [ChatMessage(role=role.get(m["role"], m["role"]), content=m["content"]) for m in r["messages"]]
        tokens = counter.count_messages(messages)
        per_call.add(fw, tokens, r)
        opts.log(f"  tokens {fw}: {tokens} (cl100k over the messages its model received)")
    return [per_call, off, overhead]


def bench_local(opts: Options) -> list[Workload]:
    """(e) the embedded model: tokens/s of the local provider vs llama-cpp-python directly (same GGUF)."""
    name = "local_tokens_per_s"
    if not opts.wants(name):
        return []
    w = Workload(
        name,
        "tokens/s",
        "local provider vs llama-cpp-python on the same GGUF, prompt, threads",
        ("axocoatl", "llama-cpp-python"),
    )
    try:
        r = run_case("axocoatl", "local", {"reps": max(1, min(opts.reps, 5)), "max_tokens": opts.local_tokens})
    except RuntimeError as exc:
        w.pending = f"the local case failed: {failure(exc)}"
        return [w]
    w.add("axocoatl", r["ours_tokens_per_s"], r)
    w.add("llama-cpp-python", r["direct_tokens_per_s"], r)
    opts.log(f"  local: ours {r['ours_tokens_per_s']:.1f} tok/s, llama-cpp-python {r['direct_tokens_per_s']:.1f} tok/s")
    return [w]


def bench_embed_query(opts: Options) -> list[Workload]:
    """The recall query's embedding, p50, with the default embedder: a new query, and one asked again."""
    names = ("recall_query_embed_new", "recall_query_embed_repeated")
    if not any(opts.wants(x) for x in names):
        return []
    new = Workload(names[0], "ms", "embedding a new recall query (MiniLM forward pass), p50", ("axocoatl",))
    repeated = Workload(names[1], "ms", "embedding a query asked before (text cache), p50", ("axocoatl",))
    for rep in range(max(1, min(opts.reps, 3))):
        r = run_case("axocoatl", "embed_query", {"queries": 50})
        new.add("axocoatl", r["new_ms"], r)
        repeated.add("axocoatl", r["repeated_ms"], r)
        opts.log(f"  embed_query rep {rep + 1}: new {r['new_ms']:.2f} ms, again {r['repeated_ms']:.3f} ms")
    return [new, repeated]
