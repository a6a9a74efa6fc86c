"""Fail closed: credentials that cannot authenticate anyone never count as auth, at start-up
(`axocoatl serve` refuses, exit code 2) and on reload (the previous keys stay)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.server.support import Daemon, serve_refusal, write_project

pytestmark = pytest.mark.slow

# Never set anywhere: `${...}` of it is what a forgotten export looks like.
UNSET = "AXO_TEST_NEVER_SET_4C2E"


@pytest.mark.parametrize(
    ("server", "path", "message"),
    [
        # The reported hole: the list is not empty, but its only key is "" once interpolated.
        (f'{{host: 0.0.0.0, auth: {{api_keys: ["${{{UNSET}}}"]}}}}', "server.auth.api_keys[0]", "is empty"),
        ('{auth: {api_keys: [""]}}', "server.auth.api_keys[0]", "is empty"),
        ('{auth: {api_keys: ["   "]}}', "server.auth.api_keys[0]", "is empty"),
        ('{host: 0.0.0.0, auth: {bearer_tokens: ["\\t"]}}', "server.auth.bearer_tokens[0]", "is empty"),
        (f'{{auth: {{bearer_tokens: ["${{{UNSET}:-}}"]}}}}', "server.auth.bearer_tokens[0]", "is empty"),
        ('{auth: {api_keys: [" padded-key "]}}', "server.auth.api_keys[0]", "starts or ends with whitespace"),
        (
            '{auth: {api_keys: ["k\\u00e9y"]}}',
            "server.auth.api_keys[0]",
            "contains a character an HTTP header cannot carry",
        ),
        ('{auth: {api_keys: ["good-key", ""]}}', "server.auth.api_keys[1]", "is empty"),
    ],
)
def test_unusable_keys_refuse_to_start(tmp_path: Path, server: str, path: str, message: str) -> None:
    stderr = serve_refusal(tmp_path, f"agents: []\nserver: {server}\n")
    assert f"axocoatl.yaml:2: {path}: {message}" in stderr
    assert "hint:" in stderr
    assert "padded-key" not in stderr and "good-key" not in stderr  # secrets are never echoed


def test_an_unset_variable_is_named_with_the_fix(tmp_path: Path) -> None:
    config = f"""
    agents: []
    server:
      host: 0.0.0.0
      auth:
        api_keys:
          - ${{{UNSET}}}
    """
    stderr = serve_refusal(tmp_path, config)
    assert "axocoatl.yaml:7: server.auth.api_keys[0]: is empty" in stderr
    assert f"the value came from ${{{UNSET}}}, which is not set" in stderr
    assert f"set {UNSET} in the environment" in stderr


def test_the_key_from_the_environment_is_used_when_set(tmp_path: Path) -> None:
    write_project(tmp_path, f'agents: []\nserver: {{auth: {{api_keys: ["${{{UNSET}}}"]}}}}\n')
    daemon = Daemon(tmp_path, env={UNSET: "from-the-env-91"}).start()
    try:
        with daemon.client() as client:
            assert client.get("/api/agents").status_code == 401
            assert client.get("/api/agents", headers={"x-api-key": "from-the-env-91"}).status_code == 200
    finally:
        daemon.stop()


def test_non_loopback_override_without_keys_refuses(tmp_path: Path) -> None:
    stderr = serve_refusal(tmp_path, "agents: []\n", "--host", "192.0.2.1")
    assert "refusing to listen on 192.0.2.1:8080 without authentication" in stderr
    assert "server.auth.api_keys" in stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (".inf", "must be a finite number (got inf)"),
        (".nan", "must be a finite number (got nan)"),
        ("-5", "must be greater than 0"),
        ("0", "must be greater than 0"),
        ("100000", "must be at most 86400"),
    ],
)
def test_rate_limit_window_must_be_finite_and_in_range(tmp_path: Path, value: str, message: str) -> None:
    config = f"agents: []\nserver:\n  rate_limit: {{enabled: true, window_secs: {value}}}\n"
    stderr = serve_refusal(tmp_path, config)
    assert f"axocoatl.yaml:3: server.rate_limit.window_secs: {message}" in stderr


def test_reload_to_an_empty_key_keeps_the_previous_keys(tmp_path: Path) -> None:
    config = tmp_path / "axocoatl.yaml"
    write_project(tmp_path, 'agents: [{id: assistant, provider: mock}]\nserver: {auth: {api_keys: ["old-key-7"]}}\n')
    daemon = Daemon(tmp_path, mode="dev").start()
    try:
        config.write_text(
            f'agents: [{{id: assistant, provider: mock}}]\nserver: {{auth: {{api_keys: ["${{{UNSET}}}"]}}}}\n'
        )
        deadline = time.monotonic() + 15
        while "config reload failed" not in daemon.log():
            assert time.monotonic() < deadline, daemon.log()
            time.sleep(0.2)
        with daemon.client() as client:
            anonymous = client.get("/api/agents").status_code
            keyed = client.get("/api/agents", headers={"x-api-key": "old-key-7"}).status_code
    finally:
        daemon.stop()
    log = daemon.log()
    assert "server.auth.api_keys[0]: is empty" in log and "still running the previous config" in log
    assert (anonymous, keyed) == (401, 200)
    assert "old-key-7" not in log
