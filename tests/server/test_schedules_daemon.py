"""Schedules in the daemon: /api/schedules, the CLI through the daemon, a kill -9 across due fires, two processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.waiting import wait_for

from axocoatl.store import SQLiteStore

from .support import Daemon

pytestmark = pytest.mark.slow

CONFIG = """\
agents:
  - {id: worker, provider: mock, options: {reply: "did {input}"}}
workflows:
  - {id: chores, agents: [worker]}
schedules:
  - {id: tick, workflow: chores, every: 1s, input: sweep, catch_up: once}
  - {id: nightly, agent: worker, cron: "0 3 * * *", timezone: Europe/Paris, input: backup}
"""


def ledger(data_dir: Path) -> tuple[list[Any], list[Any]]:
    """(every fire of `tick`, every run it triggered), read from the database."""

    async def read() -> tuple[list[Any], list[Any]]:
        store = SQLiteStore(data_dir / "axocoatl.db")
        await store.open()
        try:
            fires = await store.schedule_fires("tick", limit=10_000)
            runs = [r for r in await store.list_runs(limit=10_000) if r.trigger == "schedule:tick"]
            return fires, runs
        finally:
            await store.close()

    return asyncio.run(read())


def assert_each_slot_once(fires: list[Any], runs: list[Any]) -> None:
    slots = [f.slot for f in fires if f.slot is not None]
    assert len(slots) == len(set(slots))
    started = {f.run_id for f in fires if f.outcome in ("started", "manual")}
    assert started == {r.run_id for r in runs}  # one run per started fire, none without one
    assert len(runs) == len({r.run_id for r in runs})


def test_the_daemon_fires_schedules_and_a_kill_across_due_fires_fires_each_slot_once(tmp_path: Path) -> None:
    (tmp_path / "axocoatl.yaml").write_text(CONFIG)
    daemon = Daemon(tmp_path).start()
    try:
        with daemon.client() as client:

            def counted() -> int:
                rows = {r["id"]: r for r in client.get("/api/schedules").json()}
                return int(rows["tick"]["run_count"]) if rows["tick"]["run_count"] >= 2 else 0

            wait_for(counted, "two fires of `tick`")
            rows = {r["id"]: r for r in client.get("/api/schedules").json()}
            assert rows["nightly"]["status"] == "active"
            assert rows["nightly"]["next_fire"].endswith(":00:00.000Z")  # 03:00 in Paris is 01:00 or 02:00 UTC
            assert rows["nightly"]["next_fire"][11:13] in ("01", "02")
            missing = client.post("/api/schedules/tock/pause")
            assert missing.status_code == 404 and "did you mean 'tick'" in missing.json()["hint"]
            now = client.post("/api/schedules/nightly/run", params={"wait": "true"})
            assert now.status_code == 200, now.text
            assert now.json()["workflow_id"] == "agent:worker" and now.json()["status"] == "completed"
            assert now.json()["trigger"] == "schedule:nightly"
        daemon.stop(signal.SIGKILL)
        (tmp_path / "data" / "daemon.json").unlink(missing_ok=True)
        before, _ = ledger(tmp_path / "data")
        time.sleep(2.5)  # slots come due while nothing runs the scheduler
        daemon = Daemon(tmp_path).start()
        with daemon.client() as client:
            seen = len(before)
            wait_for(lambda: len(ledger(tmp_path / "data")[0]) >= seen + 3, "fires after the restart")
            paused = client.post("/api/schedules/tick/pause").json()
            assert paused["status"] == "paused"
            runs = client.get("/api/runs", params={"limit": 5}).json()
            assert {r["trigger"] for r in runs} <= {"schedule:tick", "schedule:nightly"}
    finally:
        daemon.stop()
    fires, runs = ledger(tmp_path / "data")
    assert_each_slot_once(fires, runs)
    outcomes = {f.outcome for f in fires}
    assert "missed" in outcomes  # the outage's older slots, recorded; the latest ran once (catch_up: once)
    assert all(r.status in ("completed", "interrupted", "running") for r in runs)


def test_schedules_cli_goes_through_the_daemon(tmp_path: Path, axocoatl_cli: Callable[..., Any]) -> None:
    (tmp_path / "axocoatl.yaml").write_text(CONFIG.replace("every: 1s", "every: 1h"))
    daemon = Daemon(tmp_path).start()
    try:
        data = ["--data-dir", str(tmp_path / "data")]
        paused = axocoatl_cli(*data, "schedules", "pause", "tick", cwd=tmp_path)
        assert paused.returncode == 0, paused.stderr
        assert "schedule tick paused" in paused.stdout
        listed = axocoatl_cli(*data, "schedules", "list", cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        line = next(line for line in listed.stdout.splitlines() if line.split()[:1] == ["tick"])
        assert "paused" in line and "every 1h" in line
        ran = axocoatl_cli(*data, "schedules", "run", "tick", "--json", cwd=tmp_path)
        assert ran.returncode == 0, ran.stderr
        runs = axocoatl_cli(*data, "runs", "list", cwd=tmp_path)
        assert "schedule:tick" in runs.stdout
        unknown = axocoatl_cli(*data, "schedules", "resume", "tock", cwd=tmp_path)
        assert unknown.returncode != 0 and "did you mean 'tick'" in unknown.stderr
    finally:
        daemon.stop()


RUNNER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from axocoatl.config.loader import load_config
    from axocoatl.runtime.runtime import Runtime

    async def main():
        loaded = load_config(Path("axocoatl.yaml"))
        async with Runtime(loaded.config, data_dir=Path("data"), background=True):
            while not Path("stop").exists():
                await asyncio.sleep(0.05)

    asyncio.run(main())
    """
)


def test_two_processes_on_one_project_fire_each_slot_once(tmp_path: Path) -> None:
    (tmp_path / "axocoatl.yaml").write_text(CONFIG)
    env = {**os.environ, "AXOCOATL_EMBEDDER": "hashed"}
    procs = [
        subprocess.Popen([sys.executable, "-c", RUNNER], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        wait_for(lambda: (tmp_path / "data" / "axocoatl.db").exists(), "the database")
        # a third process reading the database: every half second, not ten times a second (each read opens a
        # store, and under load its lock traffic on top of the two runtimes' once left one waiting over 10 s)
        wait_for(lambda: len(ledger(tmp_path / "data")[0]) >= 6, "six fires", interval=0.5)
    finally:
        (tmp_path / "stop").touch()
        errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    fires, runs = ledger(tmp_path / "data")
    assert_each_slot_once(fires, runs)
    assert len([f for f in fires if f.outcome == "started"]) >= 5
