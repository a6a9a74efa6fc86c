"""Outbound webhooks with real processes: a CLI run without a daemon, a daemon killed with pending
deliveries, two processes delivering from one project; the receiver fails, stalls and recovers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.server.support import Daemon
from tests.waiting import wait_for

from axocoatl.store import DeliveryRecord, EventRecord, SQLiteStore

from .receiver import Receiver

pytestmark = pytest.mark.slow

SECRET = "hush-hush"


def config(url: str, *, schedule: bool = False, backoff: float = 0.05) -> str:
    text = f"""\
        agents:
          - {{id: a, provider: mock, options: {{reply: "did {{input}}"}}}}
          - {{id: b, provider: mock, depends_on: [a]}}
        workflows:
          - {{id: wf, agents: [a, b]}}
        webhooks:
          - name: out
            url: {url}
            secret: ${{HOOK_SECRET}}
            timeout_secs: 2.0  # a loaded machine answers a 200 within it; a stall does not
            backoff_secs: {backoff}
            max_backoff_secs: 1
            max_attempts: 100
        """
    text = textwrap.dedent(text)
    if schedule:
        text += "schedules:\n  - {id: tick, workflow: wf, every: 1s, input: tick}\n"
    return text


ENV = {"HOOK_SECRET": SECRET, "AXOCOATL_EMBEDDER": "hashed"}


def outbox(data_dir: Path) -> tuple[list[EventRecord], list[DeliveryRecord]]:
    """(every event of the log a webhook with no filter sends, every delivery), read from the database."""

    async def read() -> tuple[list[EventRecord], list[DeliveryRecord]]:
        store = SQLiteStore(data_dir / "axocoatl.db")
        await store.open()
        try:
            events = [e for e in await store.recent_events(limit=100_000) if e.type != "AgentActivated"]
            return events, await store.list_deliveries(limit=100_000)
        finally:
            await store.close()

    return asyncio.run(read())


def assert_each_event_delivered_once(receiver: Receiver, events: list[EventRecord]) -> None:
    ok = receiver.answered(200)
    assert Counter(r.json["delivery_id"] for r in ok).most_common(1)[0][1] == 1  # no delivery accepted twice
    assert sorted(r.json["event_id"] for r in ok) == sorted(e.event_id for e in events)  # every event, once
    assert all(r.signed_by(SECRET) for r in receiver.received)


def running(data_dir: Path) -> bool:
    async def read() -> bool:
        store = SQLiteStore(data_dir / "axocoatl.db")
        await store.open()
        try:
            return bool(await store.list_runs(status="running", limit=10))
        finally:
            await store.close()

    return asyncio.run(read())


def all_delivered(data_dir: Path) -> bool:
    events, deliveries = outbox(data_dir)
    return bool(events) and len(deliveries) == len(events) and {d.status for d in deliveries} == {"delivered"}


def test_a_cli_run_without_a_daemon_delivers_before_it_exits_and_leaves_failures_to_the_daemon(
    tmp_path: Path, axocoatl_cli: Callable[..., Any]
) -> None:
    with Receiver([200]) as receiver:
        (tmp_path / "axocoatl.yaml").write_text(config(receiver.url))
        data = ["--data-dir", str(tmp_path / "data")]
        ran = axocoatl_cli(*data, "workflow", "run", "wf", "-i", "first", "--json", cwd=tmp_path, env=ENV)
        assert ran.returncode == 0, ran.stderr
        events, _ = outbox(tmp_path / "data")
        assert_each_event_delivered_once(receiver, events)  # all sent by the CLI process itself
        listed = axocoatl_cli(*data, "webhooks", "deliveries", "--json", cwd=tmp_path, env=ENV)
        assert listed.returncode == 0, listed.stderr
        assert {row["status"] for row in json.loads(listed.stdout)} == {"delivered"}

        receiver.script[:] = [503]  # the receiver goes down: the CLI tries once, then leaves the rest
        ran = axocoatl_cli(*data, "workflow", "run", "wf", "-i", "second", cwd=tmp_path, env=ENV)
        assert ran.returncode == 0, ran.stderr
        pending = [d for d in outbox(tmp_path / "data")[1] if d.status == "pending"]
        assert pending and all(d.attempts >= 1 and d.last_status == 503 for d in pending)

        receiver.script[:] = [200]
        daemon = Daemon(tmp_path, env=ENV).start()
        try:
            wait_for(lambda: all_delivered(tmp_path / "data"), "the daemon to deliver what the CLI left")
        finally:
            daemon.stop()
    events, _ = outbox(tmp_path / "data")
    assert_each_event_delivered_once(receiver, events)


def test_a_daemon_killed_with_pending_deliveries_delivers_them_after_a_restart(tmp_path: Path) -> None:
    with Receiver([500, "stall", 500], stall_secs=4.0) as receiver:
        (tmp_path / "axocoatl.yaml").write_text(config(receiver.url, backoff=0.2))
        daemon = Daemon(tmp_path, env=ENV).start()
        try:
            with daemon.client() as client:
                for n in range(3):
                    started = client.post("/api/workflows/wf/execute", json={"input": f"job {n}"})
                    assert started.status_code in (200, 202), started.text

                def pending() -> bool:
                    rows = client.get("/api/webhooks/deliveries").json()
                    return len(rows) >= 3 and any(r["status"] == "pending" and r["attempts"] >= 1 for r in rows)

                wait_for(pending, "deliveries waiting for a retry")
            daemon.stop(9)  # kill -9 with the outbox not empty
        finally:
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.kill()
        (tmp_path / "data" / "daemon.json").unlink(missing_ok=True)
        _, before = outbox(tmp_path / "data")
        assert any(d.status == "pending" for d in before)
        receiver.script[:] = [200]
        daemon = Daemon(tmp_path, env=ENV).start()
        try:
            wait_for(lambda: all_delivered(tmp_path / "data"), "every delivery after the restart")
            with daemon.client() as client:
                assert client.get("/api/webhooks/deliveries", params={"failed": "true"}).json() == []
        finally:
            daemon.stop()
    events, _ = outbox(tmp_path / "data")
    assert len(events) == 3 * 4  # three runs: RunStarted, two TaskCompleted, WorkflowCompleted
    assert_each_event_delivered_once(receiver, events)
    assert {"stall", 500} <= {r.answered for r in receiver.received}


RUNNER = textwrap.dedent(
    """
    import asyncio
    from pathlib import Path
    from axocoatl.config.loader import load_config
    from axocoatl.runtime.runtime import Runtime

    async def main():
        loaded = load_config(Path("axocoatl.yaml"))
        async with Runtime(loaded.config, data_dir=Path("data"), background=True) as rt:
            paused = False
            while not Path("stop").exists():
                if Path("pause").exists() and not paused:
                    await rt.scheduler.set_paused("tick", True)
                    paused = True
                await asyncio.sleep(0.05)

    asyncio.run(main())
    """
)


def test_two_processes_on_one_project_never_send_a_delivery_twice(tmp_path: Path) -> None:
    with Receiver([500, 200, "stall", 200, 503, 200, 200, 500, 200], stall_secs=4.0) as receiver:
        (tmp_path / "axocoatl.yaml").write_text(config(receiver.url, schedule=True))
        env = {**os.environ, **ENV}
        procs = [
            subprocess.Popen([sys.executable, "-c", RUNNER], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        try:
            wait_for(lambda: (tmp_path / "data" / "axocoatl.db").exists(), "the database")
            wait_for(lambda: len(outbox(tmp_path / "data")[0]) >= 30, "five runs' events")
            (tmp_path / "pause").touch()  # no more runs: the processes drain the outbox
            wait_for(lambda: not running(tmp_path / "data") and all_delivered(tmp_path / "data"), "every delivery")
        finally:
            (tmp_path / "stop").touch()
            errors = [p.communicate(timeout=60)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], errors
        events, _ = outbox(tmp_path / "data")
        assert_each_event_delivered_once(receiver, events)
        sent = Counter(r.json["delivery_id"] for r in receiver.received if r.answered == 200)
        assert set(sent.values()) == {1}


def test_dead_letters_from_the_cli_listed_and_redelivered_without_a_daemon(
    tmp_path: Path, axocoatl_cli: Callable[..., Any]
) -> None:
    with Receiver([410]) as receiver:
        (tmp_path / "axocoatl.yaml").write_text(config(receiver.url).replace("max_attempts: 100", "max_attempts: 1"))
        data = ["--data-dir", str(tmp_path / "data")]
        ran = axocoatl_cli(*data, "workflow", "run", "wf", "-i", "x", cwd=tmp_path, env=ENV)
        assert ran.returncode == 0, ran.stderr
        listed = axocoatl_cli(*data, "webhooks", "deliveries", "--failed", cwd=tmp_path, env=ENV)
        assert listed.returncode == 0, listed.stderr
        assert "HTTP 410 (not retried: the receiver refused the request)" in listed.stdout
        failed = json.loads(
            axocoatl_cli(*data, "webhooks", "deliveries", "--failed", "--json", cwd=tmp_path, env=ENV).stdout
        )
        assert len(failed) == 4 and {row["status"] for row in failed} == {"failed"}
        receiver.script[:] = [200]
        again = axocoatl_cli(*data, "webhooks", "redeliver", failed[0]["id"], cwd=tmp_path, env=ENV)
        assert again.returncode == 0, again.stderr
        assert f"delivery {failed[0]['id']} queued again" in again.stdout
        assert [r.json["delivery_id"] for r in receiver.answered(200)] == [failed[0]["id"]]  # sent before it exited
        missing = axocoatl_cli(*data, "webhooks", "redeliver", "dlv-nope", cwd=tmp_path, env=ENV)
        assert missing.returncode == 3 and "no webhook delivery 'dlv-nope'" in missing.stderr
