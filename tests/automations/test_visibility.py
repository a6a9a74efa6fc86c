"""All of it at once on a real daemon, seen over the WebSocket: an inbound trigger starts a run, a proactive
entry reacts to it, a webhook delivers the results, a schedule fires; every frame says what caused it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.support import Daemon, recv_until, wait_run

from .receiver import Receiver

pytestmark = pytest.mark.slow

KEY = "hook-key"


def config(url: str) -> str:
    return f"""\
agents:
  - {{id: greeter, provider: mock, options: {{reply: "hello {{input}}"}}}}
  - {{id: notifier, provider: mock, options: {{reply: "noted {{input}}"}}}}
workflows:
  - {{id: greet, agents: [greeter]}}
triggers:
  - {{name: visit, workflow: greet, api_key: {KEY}, input: "{{{{ body.name }}}}"}}
proactive:
  - id: note
    agent: notifier
    trigger: {{type: on_event, event: "webhook:visit"}}
    input: "visit in run {{{{ event.run_id }}}}"
    cooldown: 0s
  - id: pulse
    agent: notifier
    trigger: {{type: schedule, every: 1s}}
    input: pulse
webhooks:
  - {{name: out, url: "{url}", events: [run.completed], backoff_secs: 0.05, timeout_secs: 2}}
"""


def find(frames: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    return next((f for f in frames if all(f.get(k) == v for k, v in match.items())), None)


def frames_until(ws: Any, done: Callable[[list[dict[str, Any]]], Any], timeout: float = 90.0) -> list[dict[str, Any]]:
    """Every frame received until ``done`` holds for them (in whatever order they came)."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not done(frames):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"frames never complete: {[(f.get('kind'), f.get('type')) for f in frames]}")
        frames.append(json.loads(ws.recv(timeout=remaining)))
    return frames


def test_triggered_runs_proactive_fires_schedule_fires_and_deliveries_are_visible(
    tmp_path: Path, axocoatl_cli: Callable[..., Any]
) -> None:
    with Receiver([500, 200]) as receiver:
        (tmp_path / "axocoatl.yaml").write_text(config(receiver.url))
        daemon = Daemon(tmp_path).start()
        try:
            with daemon.ws() as ws:
                ws.send(json.dumps({"cmd": "subscribe", "runs": "*"}))
                recv_until(ws, "subscribed")
                with httpx.Client(base_url=daemon.url, timeout=30) as hooks:
                    answer = hooks.post("/hooks/visit", json={"name": "ana"}, headers={"x-api-key": KEY})
                assert answer.status_code == 202, answer.text
                visit = answer.json()["run_id"]
                frames = frames_until(
                    ws,
                    lambda fs: (
                        find(fs, kind="run-status", run_id=visit, status="running")
                        and find(fs, kind="automation", type="ProactiveFired", source="proactive:note")
                        and find(fs, kind="automation", type="ScheduleFired", source="proactive:pulse")
                        and find(fs, kind="automation", type="WebhookRetrying")
                        and find(fs, kind="automation", type="WebhookDelivered")
                    ),
                )
                assert find(frames, kind="run-status", run_id=visit, status="running")["trigger"] == "webhook:visit"
                noted = find(frames, kind="automation", type="ProactiveFired")["run_id"]
                assert find(frames, kind="automation", type="ScheduleFired", source="proactive:pulse")["run_id"]
                assert find(frames, kind="automation", type="WebhookRetrying")["payload"]["status_code"] == 500
                assert find(frames, kind="automation", type="WebhookDelivered")["payload"]["webhook"] == "out"
            with daemon.client() as client:
                run = wait_run(client, noted)
                assert run["trigger"] == "proactive:note" and run["input"] == f"visit in run {visit}"
                assert wait_run(client, visit)["final_output"] == "hello ana"
                triggers = {r["trigger"] for r in client.get("/api/runs", params={"limit": 100}).json()}
            assert {"webhook:visit", "proactive:note", "proactive:pulse"} <= triggers
            data = ["--data-dir", str(tmp_path / "data")]
            listed = axocoatl_cli(*data, "runs", "list", "--limit", "100", cwd=tmp_path)
            assert listed.returncode == 0, listed.stderr
            assert "webhook:visit" in listed.stdout and "proactive:note" in listed.stdout
            schedules = axocoatl_cli(*data, "schedules", "list", cwd=tmp_path)
            assert "proactive:pulse" in schedules.stdout, schedules.stdout
            shown = axocoatl_cli(*data, "runs", "show", visit, cwd=tmp_path)
            assert shown.returncode == 0, shown.stderr
            assert "triggered by webhook:visit" in shown.stdout
        finally:
            daemon.stop()
    assert {r.json["event_type"] for r in receiver.answered(200)} == {"WorkflowCompleted"}


FAILING = """\
agents:
  - {id: x, provider: mock, options: {fail: true}}
  - {id: fixer, provider: mock, options: {fail_when: "doomed"}}
workflows:
  - {id: bad, agents: [x]}
proactive:
  - id: fix
    agent: fixer
    trigger: {type: on_event, event: [run.failed, agent.failed]}
    input: "doomed {{ event.type }} {{ event.run_id }}"
    cooldown: 1h
"""


def test_a_daemon_fires_once_on_a_failure_its_own_failure_and_a_second_one_in_the_cooldown_fire_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "axocoatl.yaml").write_text(FAILING)
    daemon = Daemon(tmp_path).start()
    try:
        with daemon.ws() as ws, daemon.client() as client:
            ws.send(json.dumps({"cmd": "subscribe", "runs": "*"}))
            recv_until(ws, "subscribed")
            first = client.post("/api/workflows/bad/execute", json={"input": "one"}).json()["run_id"]
            frames = frames_until(ws, lambda fs: find(fs, kind="automation", type="ProactiveFired"))
            fixer = find(frames, kind="automation", type="ProactiveFired")["run_id"]
            assert wait_run(client, fixer)["status"] == "failed"  # it fails too: its own failure is in the log
            second = client.post("/api/workflows/bad/execute", json={"input": "two"}).json()["run_id"]
            wait_run(client, second)

            def skipped(fs: list[dict[str, Any]]) -> Any:
                return [f for f in fs if f.get("type") == "ProactiveSkipped" and f["payload"]["event_run_id"] == second]

            frames = frames_until(ws, skipped, timeout=60)
            assert {f["payload"]["detail"] for f in skipped(frames)} == {"cooldown 1h"}
            runs = client.get("/api/runs", params={"limit": 100}).json()
        fixes = [r for r in runs if r["trigger"] == "proactive:fix"]
        assert [r["run_id"] for r in fixes] == [fixer]  # once: not on its own failure, not in the cooldown
        shown = client_run(daemon, fixer)
        assert shown["input"].startswith("doomed ") and first in shown["input"]
    finally:
        daemon.stop()


def client_run(daemon: Daemon, run_id: str) -> dict[str, Any]:
    with daemon.client() as client:
        return dict(client.get(f"/api/runs/{run_id}").json())
