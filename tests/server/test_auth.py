"""Auth, exposure, CORS, rate limiting and secrets in logs, against a daemon in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.server.support import Daemon, recv_until, running_daemon, write_project
from websockets.exceptions import InvalidStatus

pytestmark = pytest.mark.slow

KEY = "sk-test-4f1b9c2e7d"
TOKEN = "tok-test-8a7c6b5d"

SECURED = f"""
agents:
  - id: assistant
    provider: mock
server:
  auth:
    api_keys: ["{KEY}"]
    bearer_tokens: ["{TOKEN}"]
  cors_origins: ["http://app.example"]
  rate_limit: {{enabled: true, max_requests: 1000, window_secs: 60}}
"""


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("secured"), SECURED) as daemon:
        yield daemon


@pytest.mark.parametrize(
    ("headers", "params", "status"),
    [
        ({}, {}, 401),
        ({"x-api-key": "wrong"}, {}, 401),
        ({"x-api-key": KEY}, {}, 200),
        ({"authorization": f"Bearer {TOKEN}"}, {}, 200),
        ({"authorization": f"bearer {TOKEN}"}, {}, 200),
        ({"authorization": "Bearer wrong"}, {}, 401),
        ({"x-api-key": TOKEN}, {}, 401),  # bearer tokens only as Authorization
        ({}, {"token": KEY}, 401),  # query tokens only where browsers need them
    ],
)
def test_api_needs_the_right_key(secured: Daemon, headers: dict[str, str], params: dict[str, str], status: int) -> None:
    with secured.client() as client:
        response = client.get("/api/agents", headers=headers, params=params)
    assert response.status_code == status, response.text
    if status == 401:
        body = response.json()
        assert body["error"] in ("missing API key", "wrong API key")
        assert "x-api-key" in body["hint"]


def test_health_stays_public(secured: Daemon) -> None:
    with secured.client() as client:
        assert client.get("/health").status_code == 200
        assert client.get("/openapi.json").status_code == 401


def test_dashboard_shell_is_public_its_data_is_not(secured: Daemon) -> None:
    """The page and its code hold no data (the login form must load); the API behind them needs a key."""
    with secured.client() as client:
        assert client.get("/").status_code == 200
        assert client.get("/static/app.js").status_code == 200
        assert client.get("/session").json() == {"auth_required": True, "authenticated": False}
        assert client.get("/api/runs").status_code == 401
        assert client.get("/api/runs", params={"token": KEY}).status_code == 401  # keys stay out of URLs


def test_login_sets_a_strict_httponly_session_cookie(secured: Daemon) -> None:
    with secured.client() as client:
        wrong = client.post("/login", json={"key": "nope"})
        login = client.post("/login", json={"key": KEY}, headers={"origin": secured.url})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    assert login.status_code == 200
    cookie = login.headers["set-cookie"]
    name, _, rest = cookie.partition("=")
    token = rest.split(";")[0]
    assert name == "axocoatl_session" and KEY not in cookie and len(token) >= 40
    flags = {f.strip().split("=")[0].lower() for f in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= flags and "samesite=strict" in cookie.lower()
    jar = {"cookie": f"axocoatl_session={token}"}
    with secured.client() as client:
        assert client.get("/api/runs", headers=jar).status_code == 200
        assert client.get("/session", headers=jar).json()["authenticated"] is True
        # CSRF: a state-changing request on the cookie alone must say where it comes from ...
        no_origin = client.post("/api/agents/assistant/reset", headers=jar)
        other = client.post("/api/agents/assistant/reset", headers={**jar, "origin": "http://evil.example"})
        same = client.post("/api/agents/assistant/reset", headers={**jar, "origin": secured.url})
        assert no_origin.status_code == 403 and "Origin" in no_origin.json()["error"]
        assert other.status_code == 403
        assert same.status_code == 200
        # ... and a logged-out session is gone for good.
        assert client.post("/logout", headers={**jar, "origin": secured.url}).status_code == 200
        ended = client.get("/api/runs", headers=jar)
    assert ended.status_code == 401 and "session has ended" in ended.json()["error"]


def test_websocket_takes_the_session_cookie_from_this_origin_only(secured: Daemon) -> None:
    with secured.client() as client:
        token = client.post("/login", json={"key": KEY}).headers["set-cookie"].split(";")[0].split("=", 1)[1]
    cookie = f"axocoatl_session={token}"
    with secured.ws(headers={"cookie": cookie, "origin": secured.url}) as ws:
        recv_until(ws, "ready")
    for headers in ({"cookie": cookie, "origin": "http://evil.example"}, {"cookie": cookie}):
        with pytest.raises(InvalidStatus) as info:
            secured.ws(headers=headers).close()
        assert info.value.response.status_code == 403


def test_websocket_auth(secured: Daemon) -> None:
    with pytest.raises(InvalidStatus) as info:
        secured.ws().close()
    assert info.value.response.status_code == 401
    with pytest.raises(InvalidStatus):
        secured.ws(token="wrong").close()
    for ws in (secured.ws(token=KEY), secured.ws(headers={"x-api-key": KEY}), secured.ws(token=TOKEN)):
        with ws:
            ready, _ = recv_until(ws, "ready")
            assert ready["agents"] == ["assistant"]


def test_cors_allow_list(secured: Daemon) -> None:
    with secured.client() as client:
        preflight = client.options(
            "/api/agents",
            headers={
                "origin": "http://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "x-api-key",
            },
        )
        other = client.options(
            "/api/agents", headers={"origin": "http://evil.example", "access-control-request-method": "GET"}
        )
        simple = client.get("/api/agents", headers={"origin": "http://app.example", "x-api-key": KEY})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://app.example"
    assert "access-control-allow-origin" not in other.headers
    assert simple.headers["access-control-allow-origin"] == "http://app.example"


def test_no_cors_headers_without_origins(daemon: Daemon) -> None:
    with daemon.client() as client:
        response = client.get("/api/agents", headers={"origin": "http://app.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_secrets_never_reach_the_log(secured: Daemon) -> None:
    with secured.client() as client:
        client.get("/api/agents", headers={"x-api-key": KEY})
        client.get("/api/agents", headers={"x-api-key": KEY + "-wrong"})
        client.post("/login", json={"key": KEY})
        client.get("/api/agents", headers={"authorization": f"Bearer {TOKEN}"})
    with secured.ws(token=KEY) as ws:
        recv_until(ws, "ready")
    log = secured.log()
    assert "POST /login 200" in log and "GET /api/agents 401" in log
    assert KEY not in log and TOKEN not in log
    assert "token=***" in log  # uvicorn's WebSocket line, redacted


def test_rate_limit_429_with_retry_after(tmp_path: Path) -> None:
    config = """
    agents:
      - id: assistant
        provider: mock
    server:
      rate_limit: {enabled: true, max_requests: 5, window_secs: 60}
    """
    with running_daemon(tmp_path, config) as daemon, daemon.client() as client:
        statuses = [client.get("/api/agents").status_code for _ in range(6)]
        limited = client.get("/api/agents")
        health = client.get("/health")
        with pytest.raises(InvalidStatus) as refused:
            daemon.ws().close()
    assert statuses == [200] * 5 + [429]
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "too many requests" in limited.json()["error"]
    assert health.status_code == 200  # health checks are never limited
    assert refused.value.response.status_code == 429  # a WebSocket handshake is counted too
    assert "retry-after" in refused.value.response.headers


def test_non_loopback_without_keys_refuses_to_start(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is not an address of this machine: nothing could bind even if the check failed.
    write_project(tmp_path, "agents: []\nserver: {host: 192.0.2.1}\n")
    result = subprocess.run(
        [sys.executable, "-m", "axocoatl", "--data-dir", str(tmp_path / "data"), "serve"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "refusing to listen on 192.0.2.1:8080 without authentication" in result.stderr
    assert "server.auth.allow_unauthenticated: true" in result.stderr
    assert not (tmp_path / "data" / "daemon.json").exists()


def test_auth_failure_bodies_are_json(secured: Daemon) -> None:
    with secured.client() as client:
        response = client.post("/api/agents/assistant/execute", json={"input": "x"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert json.loads(response.text)["error"] == "missing API key"
