"""Inbound triggers on a real daemon: signed, unsigned, forged, stale and replayed requests; API keys."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.support import Daemon, wait_run

from axocoatl.runtime.triggers import sign

pytestmark = pytest.mark.slow

SECRET = "trigger-secret"
SERVER_KEY = "server-key-123"
HOOK_KEY = "hook-key-456"

CONFIG = f"""\
server:
  auth: {{api_keys: ["{SERVER_KEY}"]}}
agents:
  - {{id: deployer, provider: mock, options: {{reply: "deploying: {{input}}"}}}}
workflows:
  - {{id: deploy, agents: [deployer]}}
triggers:
  - name: push
    workflow: deploy
    secret: ${{PUSH_SECRET}}
    input: "ref {{{{ body.ref }}}} by {{{{ body.pusher.name }}}} ({{{{ headers.x-event }}}})"
  - name: ping
    agent: deployer
    api_key: {HOOK_KEY}
"""


def signed(body: bytes, *, at: float | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(time.time() if at is None else at))
    return {"x-axocoatl-timestamp": stamp, "x-axocoatl-signature": sign(secret, stamp, body)}


@pytest.fixture
def daemon(tmp_path: Path) -> Any:
    (tmp_path / "axocoatl.yaml").write_text(CONFIG)
    running = Daemon(tmp_path, env={"PUSH_SECRET": SECRET}).start()
    try:
        yield running
    finally:
        running.stop()


def test_a_signed_request_starts_the_workflow_at_once_with_the_templated_input(
    daemon: Daemon, axocoatl_cli: Callable[..., Any], tmp_path: Path
) -> None:
    body = json.dumps({"ref": "refs/heads/main", "pusher": {"name": "ana"}}).encode()
    with httpx.Client(base_url=daemon.url, timeout=30) as hooks:
        answer = hooks.post("/hooks/push", content=body, headers={**signed(body), "x-event": "push"})
        assert answer.status_code == 202, answer.text
        started = answer.json()
        assert started["status"] == "running" and started["trigger"] == "webhook:push"
        assert started["workflow_id"] == "deploy"
    with daemon.client(headers={"x-api-key": SERVER_KEY}) as api:
        run = wait_run(api, started["run_id"])
    assert run["status"] == "completed" and run["trigger"] == "webhook:push"
    assert run["input"] == "ref refs/heads/main by ana (push)"
    assert run["final_output"] == "deploying: ref refs/heads/main by ana (push)"
    listed = axocoatl_cli(
        "--data-dir",
        str(tmp_path / "data"),
        "runs",
        "list",
        cwd=tmp_path,
        env={"AXOCOATL_API_KEY": SERVER_KEY, "PUSH_SECRET": SECRET},
    )
    assert listed.returncode == 0, listed.stderr
    assert "webhook:push" in listed.stdout


def test_unsigned_forged_stale_and_replayed_requests_are_refused_and_start_nothing(daemon: Daemon) -> None:
    body = b'{"ref": "refs/heads/evil"}'
    with httpx.Client(base_url=daemon.url, timeout=30) as hooks:
        unsigned = hooks.post("/hooks/push", content=body)
        assert unsigned.status_code == 401
        assert unsigned.json()["error"] == "trigger 'push' needs a signed request"
        assert "HMAC-SHA256" in unsigned.json()["hint"]
        forged = hooks.post("/hooks/push", content=body, headers=signed(body, secret="guess"))
        assert forged.status_code == 401 and "signature" in forged.json()["error"]
        tampered = hooks.post("/hooks/push", content=body + b" ", headers=signed(body))
        assert tampered.status_code == 401
        stale = hooks.post("/hooks/push", content=body, headers=signed(body, at=time.time() - 3600))
        assert stale.status_code == 401 and "at most 300 s" in stale.json()["error"]
        headers = signed(body)
        first = hooks.post("/hooks/push", content=body, headers=headers)
        assert first.status_code == 202, first.text
        replayed = hooks.post("/hooks/push", content=body, headers=headers)
        assert replayed.status_code == 409 and "replay" in replayed.json()["error"]
        unknown = hooks.post("/hooks/pusj", content=body, headers=headers)
        assert unknown.status_code == 404 and unknown.json()["error"] == "no trigger 'pusj'"
        assert "push" not in unknown.json()["hint"]  # a public endpoint names no configured trigger
        server_key_only = hooks.post("/hooks/push", content=body, headers={"x-api-key": SERVER_KEY})
        assert server_key_only.status_code == 401  # the server's key is not the trigger's secret
    with daemon.client(headers={"x-api-key": SERVER_KEY}) as api:
        runs = api.get("/api/runs", params={"limit": 50}).json()
    assert [r["run_id"] for r in runs if r["trigger"] == "webhook:push"] == [first.json()["run_id"]]


def test_an_api_key_trigger(daemon: Daemon) -> None:
    with httpx.Client(base_url=daemon.url, timeout=30) as hooks:
        wrong = hooks.post("/hooks/ping", content=b"hello", headers={"x-api-key": "nope"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "trigger 'ping' needs its API key"
        ok = hooks.post("/hooks/ping", content=b"hello", headers={"authorization": f"Bearer {HOOK_KEY}"})
        assert ok.status_code == 202, ok.text
        assert ok.json()["workflow_id"] == "agent:deployer"
        again = hooks.post("/hooks/ping", content=b"again", headers={"x-api-key": HOOK_KEY})
        assert again.status_code == 202
    with daemon.client(headers={"x-api-key": SERVER_KEY}) as api:
        run = wait_run(api, ok.json()["run_id"])
    assert run["input"] == "hello" and run["final_output"] == "deploying: hello"
