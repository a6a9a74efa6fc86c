"""Throughput of independent runs on 1, 2 and 3 nodes sharing one PostgreSQL database (and NATS).

    .venv/bin/python benchmarks/scale_out.py [--runs N] [--latency-ms MS] [--nodes 1,2,3] [--sqlite] [--nats]

A private PostgreSQL cluster (initdb/pg_ctl on a free loopback port, as in the tests) and, per
node count, a fresh database and N `axocoatl serve` daemons on it. The runs (a two-step mock
workflow) are submitted round-robin to every node over HTTP, 32 at a time; the clock stops
when the database shows every run completed. Prints one JSON line per node count;
``--sqlite`` first measures one node on its SQLite file (the single-node default) as the baseline;
``--nats`` also measures each node count with a private 3-server NATS JetStream cluster
(``cluster.nats``: steps travel as work items, events fan out), its own stream per measurement.
On a 2-core machine the nodes share the cores, so more nodes add little once the CPU is full.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.pg import PostgresCluster  # noqa: E402

CONFIG = """
agents:
  - id: fetch
    provider: mock
    options: {{latency_ms: {latency}}}
  - id: digest
    provider: mock
    depends_on: [fetch]
    options: {{latency_ms: {latency}}}
workflows:
  - id: pipeline
    agents: [fetch, digest]
"""
POSTGRES = """
store:
  backend: postgres
  dsn: ${AXOCOATL_DSN}
"""


def start_node(
    root: Path, dsn: str | None, latency: int, nats: tuple[list[str], str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    root.mkdir(parents=True)
    cluster = f"cluster: {{nats: {json.dumps(nats[0])}, stream: {nats[1]}}}\n" if nats else ""
    (root / "axocoatl.yaml").write_text(CONFIG.format(latency=latency) + (POSTGRES if dsn else "") + cluster)
    env = {**os.environ, "AXOCOATL_DSN": dsn or "", "NO_COLOR": "1"}
    with (root / "log").open("wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "axocoatl", "--data-dir", str(root / "data"), "serve", "--port", "0"],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    info = root / "data" / "daemon.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            data = json.loads(info.read_text())
            if data.get("pid") == proc.pid:
                return proc, str(data["url"])
        except (OSError, ValueError):
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"node exited: {(root / 'log').read_text()}")
        time.sleep(0.1)
    raise RuntimeError("node not ready after 60 s")


async def submit(urls: list[str], runs: int) -> None:
    limit = asyncio.Semaphore(32)
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(i: int) -> None:
            async with limit:
                response = await client.post(
                    f"{urls[i % len(urls)]}/api/workflows/pipeline/execute", json={"input": f"job {i}"}
                )
                response.raise_for_status()

        await asyncio.gather(*(one(i) for i in range(runs)))


def completed(dsn: str | Path) -> int:
    query = "SELECT count(*) FROM runs WHERE status = 'completed'"
    if isinstance(dsn, Path):
        with contextlib.closing(sqlite3.connect(dsn)) as db:
            return int(db.execute(query).fetchone()[0])
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()
        return int(row[0]) if row else 0


def measure(
    cluster: PostgresCluster | None, root: Path, nodes: int, runs: int, latency: int, nats: list[str] | None = None
) -> dict[str, object]:
    dsn = cluster.new_database() if cluster is not None else None
    kind = ("postgres+nats" if nats else "postgres") if dsn else "sqlite"
    # Each measurement on its own stream: the work items of one never meet the nodes of another.
    cluster_of = (nats, f"BENCH{nodes}") if nats else None
    started = [start_node(root / f"{kind}-{nodes}-{i}", dsn, latency, cluster_of) for i in range(nodes)]
    where: str | Path = dsn if dsn is not None else root / f"{kind}-1-0" / "data" / "axocoatl.db"
    try:
        began = time.perf_counter()
        asyncio.run(submit([url for _, url in started], runs))
        while completed(where) < runs:
            time.sleep(0.05)
        seconds = time.perf_counter() - began
    finally:
        for proc, _ in started:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in started:
            proc.wait(timeout=60)
    return {
        "bench": "scale_out",
        "store": kind,
        "nodes": nodes,
        "runs": runs,
        "latency_ms": latency,
        "seconds": round(seconds, 2),
        "runs_per_s": round(runs / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--nodes", default="1,2,3")
    parser.add_argument("--sqlite", action="store_true", help="measure one node on SQLite first")
    parser.add_argument("--nats", action="store_true", help="also measure each node count with NATS JetStream")
    parser.add_argument("--only-nats", action="store_true", help="with --nats: skip the PostgreSQL-only nodes")
    args = parser.parse_args()
    for line in run(
        args.runs,
        args.latency_ms,
        [int(n) for n in args.nodes.split(",")],
        sqlite=args.sqlite,
        nats=args.nats,
        postgres=not args.only_nats,
    ):
        print(json.dumps(line), flush=True)


def run(
    runs: int, latency: int, node_counts: list[int], *, sqlite: bool = False, nats: bool = False, postgres: bool = True
) -> Iterator[dict[str, object]]:
    """One result per measurement: SQLite (``sqlite``), then per node count PostgreSQL and PostgreSQL + NATS."""
    root = Path(tempfile.mkdtemp(prefix="axocoatl-scale-"))
    os.chmod(root, 0o755)
    cluster = PostgresCluster(root / "pg")
    servers = None
    try:
        cluster.start()
        if nats:
            from tests.nats_cluster import NatsCluster

            servers = NatsCluster(root / "nats", size=3)
            servers.start()
        if sqlite:
            yield measure(None, root, 1, runs, latency)
        for count in node_counts:
            if postgres:
                yield measure(cluster, root, count, runs, latency)
            if servers is not None:
                yield measure(cluster, root, count, runs, latency, servers.urls)
    finally:
        if servers is not None:
            servers.stop()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
