"""Shared by every framework's benchmark cases: the mock model's reply, the prompt template, measurements.

Standard library only: this module is imported both in axocoatl's venv and in the peers' venv.
Each case runs in a fresh process and prints one JSON object on its last stdout line.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

TASK = "Summarise the trade-offs of write-ahead logging for an embedded database."


def head(text: str, limit: int = 160) -> str:
    """The prompt's first ``limit`` characters on one line (the mock provider's ``{input_head}``)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def mock_reply(agent_id: str, prompt: str) -> str:
    """The deterministic model: a pure function of the agent and its prompt (never of call order).

    It is axocoatl's mock default reply template ``[{agent}] {input_head}``; the peers' mock
    chat models call this function on the last user message they receive.
    """
    return f"[{agent_id}] {head(prompt)}"


def upstream_input(task: str, upstream: Iterable[tuple[str, str]]) -> str:
    """The input a downstream agent gets: axocoatl's documented template (docs/lattice.md).

    The peers build their prompts with this same function so every framework sends the
    same prompts and produces the same outputs.
    """
    lines = [f"[{agent}]: {output}" for agent, output in upstream]
    if not lines:
        return task
    return "Previous agent outputs:\n" + "\n".join(lines) + "\n\nOriginal task: " + task


def chain_ids(n: int) -> list[str]:
    return [f"a{i:04d}" for i in range(n)]


def dag_ids(width: int) -> tuple[str, list[str], str]:
    return "root", [f"w{i:04d}" for i in range(width)], "join"


def expected_chain_output(n: int, task: str = TASK) -> str:
    """The final output every framework must produce for a chain of ``n`` agents."""
    out = ""
    previous: str | None = None
    for agent in chain_ids(n):
        prompt = task if previous is None else upstream_input(task, [(previous, out)])
        out = mock_reply(agent, prompt)
        previous = agent
    return out


def expected_dag_output(width: int, task: str = TASK) -> str:
    root, workers, join = dag_ids(width)
    root_out = mock_reply(root, task)
    outs = [(w, mock_reply(w, upstream_input(task, [(root, root_out)]))) for w in workers]
    return mock_reply(join, upstream_input(task, outs))


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def settle() -> None:
    for _ in range(3):
        gc.collect()


def fsync_seconds(directory: str, repeats: int = 200) -> list[float]:
    """Times of one small append + fsync in ``directory`` (what a synchronous=FULL WAL commit pays at least)."""
    path = os.path.join(directory, "fsync-probe.bin")
    times: list[float] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        block = b"x" * 4096
        for _ in range(repeats):
            os.write(fd, block)
            t0 = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        os.unlink(path)
    return times


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return float("nan")
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(values)
    if len(ordered) < 2:
        return (ordered[0], ordered[0]) if ordered else (float("nan"), float("nan"))
    half = len(ordered) // 2
    low = ordered[:half]
    high = ordered[-half:]
    return median(low), median(high)


def emit(result: dict[str, Any]) -> None:
    """Print the case's result as the last line of stdout."""
    sys.stdout.flush()
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()


def check(condition: bool, message: str) -> None:
    """The correctness gate: a case that did different work must not report a time."""
    if not condition:
        raise SystemExit(f"correctness gate failed: {message}")


def parse_args(argv: Sequence[str]) -> dict[str, str]:
    """``--key value`` pairs after the case name."""
    args: dict[str, str] = {}
    items = list(argv)
    while items:
        key = items.pop(0)
        if not key.startswith("--") or not items:
            raise SystemExit(f"bad argument {key!r}: expected --key value pairs")
        args[key[2:].replace("-", "_")] = items.pop(0)
    return args
