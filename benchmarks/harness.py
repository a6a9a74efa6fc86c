"""The benchmark runner: one command runs every workload for axocoatl and its peers.

    .venv/bin/python -m benchmarks [--reps N] [--quick] [--only NAME[,NAME]] [--no-peers]

It creates the peers' venv (.cache/bench-peers-venv, pinned by benchmarks/peers-requirements.txt)
when missing, runs every case in a fresh process (repetitions interleaved across frameworks so
machine noise hits all of them alike), and writes benchmarks/results.json,
benchmarks/raw.json (machine, versions, every sample) and docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import fsync_seconds, median, quartiles

ROOT = Path(__file__).resolve().parent.parent
PEER_VENV = ROOT / ".cache" / "bench-peers-venv"
PEER_REQUIREMENTS = ROOT / "benchmarks" / "peers-requirements.txt"
RESULTS = ROOT / "benchmarks" / "results.json"
RAW = ROOT / "benchmarks" / "raw.json"
DOC = ROOT / "docs" / "BENCHMARKS.md"

TELEMETRY_OFF = {
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
    "PYTHONDONTWRITEBYTECODE": "",
}

FRAMEWORKS = ("axocoatl", "langgraph", "crewai")
MODULES = {"axocoatl": "benchmarks.ours", "langgraph": "benchmarks.peer_langgraph", "crewai": "benchmarks.peer_crewai"}


# ---------------------------------------------------------------------------------------- environment


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.update({k: v for k, v in TELEMETRY_OFF.items() if v})
    # The defaults a user runs (MiniLM memory, synchronous: full): no embedder override. A workload
    # that measures something else says so in its name (*_hashed, *_memory_off, *_normal).
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


def peer_python() -> Path:
    return PEER_VENV / "bin" / "python"


def ensure_peer_venv(log: Callable[[str], None]) -> bool:
    """Create or refresh the peers' venv from the pinned requirements; False when it cannot be had."""
    stamp = PEER_VENV / ".requirements.sha256"
    digest = hashlib.sha256(PEER_REQUIREMENTS.read_bytes()).hexdigest()
    if peer_python().exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return True
    log(f"creating the peers' venv in {PEER_VENV} (LangGraph, CrewAI; a few minutes, about 1 GB)")
    base = getattr(sys, "_base_executable", sys.executable)
    try:
        if not peer_python().exists():
            subprocess.run([base, "-m", "venv", str(PEER_VENV)], check=True)
        pip = [str(peer_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(PEER_REQUIREMENTS)], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        log(f"could not install the peers ({exc}); their columns stay empty")
        return False
    stamp.write_text(digest)
    return True


def python_for(framework: str) -> str:
    return sys.executable if framework == "axocoatl" else str(peer_python())


def failure(exc: BaseException) -> str:
    """A failed case in one line: what ran, and the last line of its output (the error itself)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(exc).__name__
    return f"{lines[0]} … {lines[-1]}"


def run_case(framework: str, case: str, args: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
    """Run one case in a fresh process; its last stdout line is the JSON result."""
    cmd = [python_for(framework), "-m", MODULES[framework], case]
    for key, value in args.items():
        cmd += [f"--{key}", str(value)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise RuntimeError(f"{framework} {case} {args} failed (exit {proc.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# ---------------------------------------------------------------------------------------- workloads


@dataclass
class Workload:
    name: str
    unit: str
    title: str
    frameworks: tuple[str, ...] = FRAMEWORKS
    samples: dict[str, list[float]] = field(default_factory=dict)
    raw: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pending: str | None = None  # why it is not measured yet
    note: str = ""

    def add(self, framework: str, value: float, raw: dict[str, Any] | None = None) -> None:
        self.samples.setdefault(framework, []).append(value)
        if raw is not None:
            self.raw.setdefault(framework, []).append(raw)

    def summary(self, framework: str) -> dict[str, float] | None:
        values = self.samples.get(framework)
        if not values:
            return None
        q1, q3 = quartiles(values)
        return {"median": median(values), "q1": q1, "q3": q3, "min": min(values), "max": max(values), "n": len(values)}


@dataclass
class Options:
    reps: int
    chain_n: int
    dag_width: int
    idle_n: int
    crash_n: int
    only: set[str] | None
    peers: bool
    log: Callable[[str], None]
    steady_runs: int = 20
    concurrent_runs: int = 1000
    local_tokens: int = 128
    daemon_connections: tuple[int, ...] = (64, 256)

    def wants(self, name: str) -> bool:
        return self.only is None or any(name.startswith(o) for o in self.only)


def _frameworks(opts: Options, frameworks: tuple[str, ...] = FRAMEWORKS) -> tuple[str, ...]:
    return tuple(f for f in frameworks if f == "axocoatl" or opts.peers)


def bench_steps(opts: Options, fsync: Workload) -> list[Workload]:
    """(a) a long chain and (b) a wide DAG at three durability levels."""
    out: list[Workload] = []
    for shape, metric, unit in (("chain", "ms_per_step", "ms/step"), ("dag", "ms_per_run", "ms/run")):
        for durability in ("durable_full", "durable_normal", "nondurable"):
            name = f"{shape}_{durability}"
            if not opts.wants(name):
                continue
            size = {"n": opts.chain_n} if shape == "chain" else {"width": opts.dag_width}
            title = (
                f"chain of {opts.chain_n} agents, one mock call each"
                if shape == "chain"
                else f"DAG: 1 agent -> {opts.dag_width} in parallel -> 1 join"
            )
            w = Workload(name, unit, title)
            for rep in range(opts.reps):
                for fw in _frameworks(opts):
                    if durability == "durable_full":
                        fsync.samples.setdefault("axocoatl", []).extend(
                            s * 1000 for s in fsync_seconds(tempfile.gettempdir(), 30)
                        )
                    modes = ("sync", "async") if fw == "langgraph" else ("",)
                    best: dict[str, Any] | None = None
                    for mode in modes:
                        args = {**size, "durability": durability, **({"mode": mode} if mode else {})}
                        r = run_case(fw, shape, args)
                        w.raw.setdefault(fw, []).append(r)
                        if best is None or r[metric] < best[metric]:
                            best = r
                    assert best is not None
                    w.samples.setdefault(fw, []).append(best[metric])
                    opts.log(f"  {name} rep {rep + 1}/{opts.reps} {fw}: {best[metric]:.3f} {unit}")
            out.append(w)
    # The same runs of axocoatl with its agents' memory pipeline switched off: the engine alone.
    for shape, metric, unit in (("chain", "ms_per_step", "ms/step"), ("dag", "ms_per_run", "ms/run")):
        for durability in ("durable_full", "durable_normal", "nondurable"):
            name = f"{shape}_{durability}_memory_off"
            if not opts.wants(name):
                continue
            size = {"n": opts.chain_n} if shape == "chain" else {"width": opts.dag_width}
            w = Workload(name, unit, f"as {shape}_{durability}, axocoatl without its memory pipeline")
            for rep in range(opts.reps):
                r = run_case("axocoatl", shape, {**size, "durability": durability, "memory": "off"})
                w.add("axocoatl", r[metric], r)
                opts.log(f"  {name} rep {rep + 1}/{opts.reps}: {r[metric]:.3f} {unit}")
            out.append(w)
    return out


def bench_idle(opts: Options) -> list[Workload]:
    """(c) resident memory of idle agents: RSS delta after gc (no tracemalloc) and tracemalloc delta."""
    out = []
    reps = max(1, min(opts.reps, 3))
    for name, traced, key in (
        ("idle_agents_rss", "0", "rss_bytes_per_agent"),
        ("idle_agents_tracemalloc", "1", "tracemalloc_bytes_per_agent"),
    ):
        if not opts.wants(name):
            continue
        w = Workload(name, "bytes/agent", f"{opts.idle_n} idle agents, per agent ({key.split('_bytes')[0]})")
        for rep in range(reps):
            for fw in _frameworks(opts):
                r = run_case(fw, "idle", {"n": opts.idle_n, "tracemalloc": traced})
                w.add(fw, r[key], r)
                opts.log(f"  {name} rep {rep + 1}/{reps} {fw}: {r[key]:.0f} B/agent")
        out.append(w)
    return out


def bench_crash(opts: Options) -> list[Workload]:
    """(e) kill -9 mid-run, restart, resume: time to completion and LLM calls repeated."""
    if not opts.wants("crash"):
        return []
    n = opts.crash_n
    t = Workload(
        "crash_resume_durable_full", "s", f"restart -> resumed run done (chain of {n}, killed at call {n // 2})"
    )
    c = Workload(
        "crash_repeated_llm_calls", "calls", "LLM calls made twice after kill -9 (only the in-flight one may be)"
    )
    for rep in range(max(1, min(opts.reps, 5))):
        for fw in _frameworks(opts):
            with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
                calls_log = os.path.join(tmp, "calls.log")
                args = {"n": n, "data_dir": tmp, "calls_log": calls_log, "latency_ms": 30}
                cmd = [python_for(fw), "-m", MODULES[fw], "crash_child"]
                for key, value in args.items():
                    cmd += [f"--{key}", str(value)]
                err_path = os.path.join(tmp, "child.err")
                with open(err_path, "w") as err:
                    child = subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=err)
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline and child.poll() is None:
                    if os.path.exists(calls_log) and _lines(calls_log) >= n // 2:
                        break
                    time.sleep(0.001)
                if child.poll() is not None:
                    tail = Path(err_path).read_text()[-2000:]
                    raise RuntimeError(f"{fw} crash child ended before the kill: {tail}")
                os.kill(child.pid, signal.SIGKILL)
                child.wait()
                before = _lines(calls_log)
                r = run_case(fw, "resume", {"n": n, "data_dir": tmp, "calls_log": calls_log, "t0": repr(time.time())})
                total = _lines(calls_log)
                repeated = total - n
                r.update({"calls_before_kill": before, "calls_total": total, "repeated": repeated})
                t.add(fw, r["restart_to_done_s"], r)
                c.add(fw, repeated, r)
                opts.log(f"  crash rep {rep + 1} {fw}: {r['restart_to_done_s']:.3f} s, {repeated} call(s) repeated")
    return [t, c]


def _lines(path: str) -> int:
    with open(path) as f:
        return sum(1 for _ in f)


def bench_cold(opts: Options) -> list[Workload]:
    """(d) cold start: CLI --help, validate, and imports (hyperfine when installed)."""
    out: list[Workload] = []
    axo = str(Path(sys.executable).with_name("axocoatl"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    config = tmp / "axocoatl.yaml"
    config.write_text(
        "agents:\n"
        "  - {id: researcher, provider: mock}\n"
        "  - {id: writer, provider: mock, depends_on: [researcher]}\n"
        "workflows:\n"
        "  - {id: research, agents: [researcher, writer]}\n"
    )
    peer = str(peer_python())
    crewai_cli = str(PEER_VENV / "bin" / "crewai")
    cases: list[tuple[str, str, dict[str, list[str]]]] = [
        (
            "cold_cli_help",
            "`axocoatl --help` vs `crewai --help`",
            {"axocoatl": [axo, "--help"], "crewai": [crewai_cli, "--help"]},
        ),
        ("cold_cli_validate", "`axocoatl validate` of a 2-agent config", {"axocoatl": [axo, "validate", str(config)]}),
        (
            "cold_import_package",
            "`import <package>`",
            {
                "axocoatl": [sys.executable, "-c", "import axocoatl"],
                "langgraph": [peer, "-c", "import langgraph.graph"],
                "crewai": [peer, "-c", "import crewai"],
            },
        ),
        (
            "cold_import_runtime",
            "import what a durable run needs",
            {
                "axocoatl": [sys.executable, "-c", "from axocoatl.runtime.runtime import Runtime"],
                "langgraph": [
                    peer,
                    "-c",
                    "from langgraph.graph import StateGraph; from langgraph.checkpoint.sqlite import SqliteSaver",
                ],
                "crewai": [
                    peer,
                    "-c",
                    "from crewai.flow.flow import Flow; from crewai.flow.persistence import persist",
                ],
            },
        ),
    ]
    runs = max(5, opts.reps * 2)
    for name, title, commands in cases:
        if not opts.wants(name):
            continue
        w = Workload(name, "ms", title)
        for fw, cmd in commands.items():
            if fw != "axocoatl" and not opts.peers:
                continue
            samples = _time_command(cmd, runs, cwd=tmp)
            for s in samples:
                w.add(fw, s * 1000)
            opts.log(f"  {name} {fw}: {median(samples) * 1000:.0f} ms")
        out.append(w)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def _time_command(cmd: list[str], runs: int, cwd: Path) -> list[float]:
    hyperfine = shutil.which("hyperfine")
    if hyperfine:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            out = f.name
        quoted = " ".join(_quote(c) for c in cmd)
        subprocess.run(
            [hyperfine, "-N", "--warmup", "3", "--runs", str(runs), "--export-json", out, "--style", "none", quoted],
            cwd=cwd,
            env=env(),
            check=True,
            capture_output=True,
        )
        data = json.loads(Path(out).read_text())
        os.unlink(out)
        return [float(t) for t in data["results"][0]["times"]]
    samples = []
    for i in range(runs + 3):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env(), check=True, capture_output=True)
        if i >= 3:
            samples.append(time.perf_counter() - t0)
    return samples


def _quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_./=:," for c in arg) else "'" + arg.replace("'", "'\\''") + "'"


def bench_recall(opts: Options) -> list[Workload]:
    """(f) recall_search over 10k / 100k memories (axocoatl only: the peers' memory needs other stores)."""
    out = []
    for size in (10_000, 100_000):
        name = f"recall_search_{size // 1000}k"
        if not opts.wants(name):
            continue
        w = Workload(name, "ms/query", f"recall_search top-k over {size:,} stored memories", frameworks=("axocoatl",))
        for rep in range(max(1, min(opts.reps, 3))):
            try:
                r = run_case("axocoatl", "recall", {"n": size})
            except RuntimeError as exc:
                w.pending = f"the recall case failed: {failure(exc)}"
                break
            w.add("axocoatl", r["ms_per_query"], r)
            opts.log(f"  {name} rep {rep + 1}: {r['ms_per_query']:.2f} ms/query")
        out.append(w)
    return out


def bench_daemon(opts: Options) -> list[Workload]:
    """(g) POST /api/agents/{id}/execute at 64 and 256 concurrent connections (axocoatl's daemon)."""
    out: list[Workload] = []
    # The defaults at each connection count; once with the hashed embedder (the engine without
    # MiniLM); and once with a window of 2 messages, so that from its third turn on every request's
    # passive recall has earlier exchanges to find: MiniLM embeds the exchange that just left the
    # window and the query, on the request's path (with the default window of 100 messages a thread
    # of up to 50 turns recalls nothing from itself, and embeds nothing).
    first = opts.daemon_connections[0]
    cases = [(c, "", "") for c in opts.daemon_connections] + [(first, "hashed", ""), (first, "", "2")]
    for connections, embedder, window in cases:
        suffix = ("" if connections == 64 else f"_{connections}") + (f"_{embedder}" if embedder else "")
        suffix += "_recall" if window else ""
        names = (f"daemon_execute_throughput{suffix}", f"daemon_execute_p99{suffix}")
        if not any(opts.wants(n) for n in names):
            continue
        thr = Workload(
            names[0], "req/s", f"POST /api/agents/{{id}}/execute, {connections} connections", frameworks=("axocoatl",)
        )
        p99 = Workload(names[1], "ms", f"p99 latency of the same requests ({connections})", frameworks=("axocoatl",))
        for rep in range(max(1, min(opts.reps, 3))):
            try:
                r = run_case(
                    "axocoatl",
                    "daemon",
                    {
                        "concurrency": connections,
                        "requests": 2000 if opts.reps > 1 else 200,
                        "seconds": 10 if opts.reps > 1 else 2,
                        **({"embedder": embedder} if embedder else {}),
                        **({"window": window} if window else {}),
                    },
                )
            except RuntimeError as exc:
                reason = f"the daemon case failed: {failure(exc)}"
                thr.pending = p99.pending = reason
                break
            thr.add("axocoatl", r["requests_per_s"], r)
            p99.add("axocoatl", r["p99_ms"], r)
            opts.log(f"  daemon{suffix} rep {rep + 1}: {r['requests_per_s']:.0f} req/s, p99 {r['p99_ms']:.1f} ms")
        out += [thr, p99]
    return out


# ---------------------------------------------------------------------------------------- output


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def versions(peers: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True)
        state = " + uncommitted changes in src/" if dirty.stdout.strip() else ""
        out["axocoatl"] = f"{_dist_version(sys.executable, 'axocoatl')} (git {rev.stdout.strip()}{state})"
    except OSError:
        out["axocoatl"] = _dist_version(sys.executable, "axocoatl")
    if peers and peer_python().exists():
        for dist in ("langgraph", "langgraph-checkpoint", "langgraph-checkpoint-sqlite", "langchain-core", "crewai"):
            out[dist] = _dist_version(str(peer_python()), dist)
    return out


def _dist_version(python: str, dist: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env())
    return proc.stdout.strip() or "?"


def with_base_peers(results: dict[str, Any]) -> dict[str, Any]:
    """``X_memory_off`` rows measure axocoatl only: compare them with the peers' numbers of ``X``."""
    for name, entry in results.items():
        base = results.get(name.removesuffix("_memory_off"))
        if name.endswith("_memory_off") and base and not entry["peers"] and entry.get("ours"):
            entry["peers"] = dict(base["peers"])
            entry["ratio_vs"] = {fw: value / entry["ours"] for fw, value in base["peers"].items()}
    return results


def results_json(workloads: list[Workload]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for w in workloads:
        ours = w.summary("axocoatl")
        entry: dict[str, Any] = {"unit": w.unit, "ours": ours["median"] if ours else None, "peers": {}, "ratio_vs": {}}
        for fw in w.frameworks:
            if fw == "axocoatl":
                continue
            s = w.summary(fw)
            if s is None:
                continue
            entry["peers"][fw] = s["median"]
            entry["ratio_vs"][fw] = s["median"] / ours["median"] if ours and ours["median"] else None
        if w.pending:
            entry["pending"] = w.pending
        out[w.name] = entry
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="fresh-process repetitions per case (default 7)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes and 1 repetition (a smoke run; numbers mean little)"
    )
    parser.add_argument("--only", help="comma-separated workload name prefixes, e.g. chain,cold")
    parser.add_argument("--no-peers", action="store_true", help="measure axocoatl only")
    parser.add_argument("--chain-n", type=int, help="agents in the chains (default 100; --quick 10)")
    parser.add_argument("--steady-runs", type=int, help="runs in one project for steady_* (default 20; --quick 3)")
    parser.add_argument("--concurrent-runs", type=int, help="runs at once for concurrent_* (default 1000; --quick 50)")
    parser.add_argument("--no-write", action="store_true", help="print the results; do not rewrite the result files")
    parser.add_argument("--render-only", action="store_true", help="rewrite docs/BENCHMARKS.md from the saved results")
    args = parser.parse_args(argv)
    if args.render_only:
        from benchmarks.report import write_doc

        raw_saved = json.loads(RAW.read_text())
        write_doc(DOC, json.loads(RESULTS.read_text()), raw_saved, raw_saved.get("meta", {}))
        return

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    peers = not args.no_peers and ensure_peer_venv(log)
    opts = Options(
        reps=1 if args.quick else args.reps,
        chain_n=args.chain_n or (10 if args.quick else 100),
        dag_width=8 if args.quick else 200,
        idle_n=100 if args.quick else 10_000,
        crash_n=10 if args.quick else 40,
        steady_runs=args.steady_runs or (3 if args.quick else 20),
        concurrent_runs=args.concurrent_runs or (50 if args.quick else 1000),
        local_tokens=16 if args.quick else 128,
        only=set(args.only.split(",")) if args.only else None,
        peers=peers,
        log=log,
    )
    fsync = Workload("fsync_reference", "ms", "one 4 KiB append + fsync in the temp dir", frameworks=("axocoatl",))
    workloads: list[Workload] = []
    from benchmarks import defaults

    default_path = (defaults.bench_cli_chain, defaults.bench_steady, defaults.bench_concurrent, defaults.bench_tokens)
    default_path += (defaults.bench_local, defaults.bench_embed_query)
    for bench in (*default_path, bench_steps, bench_idle, bench_cold, bench_crash, bench_recall):
        log(f"{bench.__name__.removeprefix('bench_')}:")
        workloads.extend(bench(opts, fsync) if bench is bench_steps else bench(opts))  # type: ignore[operator]
    log("daemon:")
    workloads.extend(bench_daemon(opts))
    if fsync.samples:
        workloads.append(fsync)
    data = results_json(workloads)
    meta = {"machine": machine(), "versions": versions(peers), "options": {k: v for k, v in vars(args).items()}}
    if args.no_write:
        print(json.dumps(data, indent=2))
        return
    _write_json(RESULTS, data, merge=opts.only is not None)
    _write_json(RESULTS, with_base_peers(json.loads(RESULTS.read_text())), merge=False)
    raw = {
        "meta": meta,
        "workloads": {
            w.name: {"samples": w.samples, "summary": {f: w.summary(f) for f in w.samples}, "raw": w.raw}
            for w in workloads
        },
    }
    if opts.only is not None and RAW.exists():
        old = json.loads(RAW.read_text())
        old.get("workloads", {}).update(raw["workloads"])
        raw["workloads"] = old.get("workloads", raw["workloads"])
    _write_json(RAW, raw, merge=False)
    from benchmarks.report import write_doc

    write_doc(DOC, json.loads(RESULTS.read_text()), raw, meta)
    log(f"wrote {RESULTS.relative_to(ROOT)}, {RAW.relative_to(ROOT)}, {DOC.relative_to(ROOT)}")


def _write_json(path: Path, data: dict[str, Any], *, merge: bool) -> None:
    if merge and path.exists():
        old = json.loads(path.read_text())
        old.update(data)
        data = old
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
