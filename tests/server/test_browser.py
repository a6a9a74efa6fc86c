"""What a web page could make the daemon do: DNS rebinding (Host), cross-site WebSockets and
requests (Origin), framing and injected scripts (security headers, CSP). Against a daemon in a subprocess."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.server.support import Daemon, recv_until, running_daemon, serve_refusal
from websockets.exceptions import InvalidStatus

pytestmark = pytest.mark.slow

KEY = "sk-browser-5e8d1c"

NAMED = f"""
agents:
  - id: assistant
    provider: mock
workflows:
  - id: solo
    agents: [assistant]
server:
  auth: {{api_keys: ["{KEY}"]}}
  allowed_hosts: [daemon.example, "proxy.example:9443", "192.168.7.7"]
  cors_origins: ["http://app.example:3000"]
"""


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("named"), NAMED) as daemon:
        yield daemon


def assert_json_error(response: httpx.Response, status: int, contains: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert contains in body["error"], body
    assert body["hint"]


# ------------------------------------------------------------------------------------ Host


@pytest.mark.parametrize("path", ["/api/runs", "/api/agents", "/", "/health", "/openapi.json"])
def test_dns_rebinding_host_gets_421(daemon: Daemon, path: str) -> None:
    # The page's name now resolves to 127.0.0.1, but its Host header still names it.
    with daemon.client() as client:
        response = client.get(path, headers={"host": f"rebind.attacker.example:{daemon.port}"})
    assert_json_error(response, 421, "does not answer to Host 'rebind.attacker.example:")
    assert "server.allowed_hosts" in response.json()["hint"]


def test_loopback_names_are_accepted_with_or_without_port(daemon: Daemon) -> None:
    port = daemon.port
    hosts = ["127.0.0.1", f"127.0.0.1:{port}", "localhost", f"localhost:{port}", f"LocalHost:{port}"]
    hosts += ["[::1]", f"[::1]:{port}", "localhost."]
    with daemon.client() as client:
        statuses = {host: client.get("/api/runs", headers={"host": host}).status_code for host in hosts}
    assert statuses == dict.fromkeys(hosts, 200)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.2",  # loopback, but not a configured name
        "localhost.attacker.example",
        "127.0.0.1.nip.io",
        "localhost:8080;script-src *",
        "localhost:99999",
        "[::1",
        "user@localhost",
    ],
)
def test_near_misses_and_malformed_hosts_get_421(daemon: Daemon, host: str) -> None:
    with daemon.client() as client:
        response = client.get("/api/runs", headers={"host": host})
    assert response.status_code in (400, 421), response.text  # the HTTP parser may refuse it first
    if response.status_code == 421:
        assert_json_error(response, 421, "misdirected request")


def test_configured_allowed_hosts(named: Daemon) -> None:
    def status(host: str) -> int:
        with named.client(headers={"x-api-key": KEY}) as client:
            return client.get("/api/agents", headers={"host": host}).status_code

    assert status("daemon.example") == 200
    assert status("DAEMON.example:8080") == 200  # an entry without a port: any port
    assert status("proxy.example:9443") == 200
    assert status("proxy.example") == 421  # an entry with a port: only that port
    assert status("proxy.example:443") == 421
    assert status("192.168.7.7") == 200
    assert status(f"127.0.0.1:{named.port}") == 200  # loopback names stay accepted
    assert status("evil.example") == 421


def test_host_check_comes_before_auth(named: Daemon) -> None:
    # A rebinding page must not even learn whether auth is on.
    with named.client() as client:
        response = client.get("/api/agents", headers={"host": "evil.example"})
    assert_json_error(response, 421, "misdirected request")


def test_websocket_with_a_foreign_host_is_refused(daemon: Daemon) -> None:
    with pytest.raises(InvalidStatus) as info:
        daemon.ws(host=f"rebind.attacker.example:{daemon.port}").close()
    assert info.value.response.status_code == 421
    assert b"misdirected request" in info.value.response.body
    with daemon.ws(host=f"localhost:{daemon.port}") as ws:
        ready, _ = recv_until(ws, "ready")
    assert ready["kind"] == "ready"


# ---------------------------------------------------------------------------------- Origin


def test_websocket_from_another_origin_is_refused(daemon: Daemon) -> None:
    for origin in ("http://evil.example", "null", f"http://localhost.evil.example:{daemon.port}", "garbage"):
        with pytest.raises(InvalidStatus) as info:
            daemon.ws(headers={"Origin": origin}).close()
        assert info.value.response.status_code == 403, origin
        body = json.loads(bytes(info.value.response.body))
        assert body["error"].startswith("cross-origin request refused")
        assert "server.cors_origins" in body["hint"]


def test_websocket_same_origin_and_no_origin_are_allowed(daemon: Daemon) -> None:
    same = f"http://127.0.0.1:{daemon.port}"
    with daemon.ws(headers={"Origin": same}) as ws:
        ws.send(json.dumps({"cmd": "ping", "ref": "same-origin"}))
        pong, _ = recv_until(ws, "pong")
    assert pong["ref"] == "same-origin"
    with daemon.ws() as ws:  # non-browser clients send no Origin
        recv_until(ws, "ready")
    # Same name, other port: another origin.
    with pytest.raises(InvalidStatus) as info:
        daemon.ws(headers={"Origin": f"http://127.0.0.1:{daemon.port + 1}"}).close()
    assert info.value.response.status_code == 403


def test_websocket_from_a_configured_origin(named: Daemon) -> None:
    with named.ws(token=KEY, headers={"Origin": "http://app.example:3000"}) as ws:
        recv_until(ws, "ready")
    with pytest.raises(InvalidStatus) as info:
        named.ws(token=KEY, headers={"Origin": "http://app.example:3001"}).close()
    assert info.value.response.status_code == 403
    # Behind a TLS proxy that keeps the Host: https on the default port is the same origin.
    with named.ws(token=KEY, host="daemon.example", headers={"Origin": "https://daemon.example"}) as ws:
        recv_until(ws, "ready")


def test_cross_origin_state_changes_are_refused_and_change_nothing(daemon: Daemon) -> None:
    evil = {"origin": "http://evil.example"}
    with daemon.client() as client:
        before = client.get("/api/runs", params={"limit": 1000}).json()
        turns = client.get("/api/agents/assistant/status").json()["turns"]
        responses = [
            # A form POST needs no preflight: the body arrives, so the Origin is all there is.
            client.post(
                "/api/workflows/research/execute",
                content=b'{"input": "csrf"}',
                headers={**evil, "content-type": "application/json"},
            ),
            client.post("/api/agents/assistant/execute", json={"input": "csrf"}, headers=evil),
            client.post("/api/agents/assistant/reset", headers=evil),
            client.post("/api/agents/assistant/restart", headers=evil),
        ]
        after = client.get("/api/runs", params={"limit": 1000}).json()
        turns_after = client.get("/api/agents/assistant/status").json()["turns"]
        same_origin = client.post(
            "/api/agents/assistant/execute",
            json={"input": "mine"},
            headers={"origin": f"http://127.0.0.1:{daemon.port}"},
        )
        reads = client.get("/api/runs", headers=evil)
    for response in responses:
        assert_json_error(response, 403, "cross-origin request refused")
    assert after == before and turns_after == turns
    assert same_origin.status_code == 200, same_origin.text
    # Reading is left to the browser's same-origin policy: no CORS header lets the page see it.
    assert reads.status_code == 200 and "access-control-allow-origin" not in reads.headers


# --------------------------------------------------------------------------- security headers


def _csp(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def _sha256(code: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"


def test_dashboard_has_a_csp_that_allows_only_its_own_files(daemon: Daemon) -> None:
    with daemon.client() as client:
        response = client.get("/")
    assert response.status_code == 200
    csp = _csp(response)
    assert "<script>" not in response.text and "<style>" not in response.text  # no inline code at all
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert "'self'" in csp["connect-src"] and f"ws://127.0.0.1:{daemon.port}" in csp["connect-src"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert "'unsafe-eval'" not in response.headers["content-security-policy"]
    assert not re.search(r"\s(style|on[a-z]+)\s*=", response.text)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


def test_docs_page_has_a_csp_too(daemon: Daemon) -> None:
    with daemon.client() as client:
        response = client.get("/docs")
    assert response.status_code == 200 and "swagger-ui" in response.text
    csp = _csp(response)
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert csp["frame-ancestors"] == ["'none'"]
    assert [_sha256(code) for code in inline] == [s for s in csp["script-src"] if s.startswith("'sha256-")]
    assert response.headers["x-frame-options"] == "DENY"


def test_docs_page_loads_nothing_from_another_host(daemon: Daemon) -> None:
    """/docs works offline: Swagger UI's code is served by the daemon from the package."""
    with daemon.client() as client:
        page = client.get("/docs")
        assert page.status_code == 200
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(s.startswith("/docs/assets/") for s in sources), sources
        assert not re.search(r"https?://", page.text), page.text
        csp = _csp(page)
        for directive in ("script-src", "style-src", "img-src", "connect-src"):
            assert not [s for s in csp[directive] if "://" in s or "." in s.strip("'")], (directive, csp)
        for source in sources:
            asset = client.get(source)
            assert asset.status_code == 200 and len(asset.content) > 500, source
        js = client.get("/docs/assets/swagger-ui-bundle.js")
        assert js.headers["content-type"].startswith("text/javascript") and b"SwaggerUIBundle" in js.content
        css = client.get("/docs/assets/swagger-ui.css")
        assert css.headers["content-type"].startswith("text/css") and b".swagger-ui" in css.content
        assert client.get("/docs/assets/favicon.png").content.startswith(b"\x89PNG")
        missing = client.get("/docs/assets/../../axocoatl.yaml")
        assert missing.status_code == 404
        unknown = client.get("/docs/assets/LICENSE")
        assert_json_error(unknown, 404, "no docs asset 'LICENSE'")


def test_docs_assets_need_no_key_but_the_api_still_does(named: Daemon) -> None:
    with named.client() as client:
        assert client.get("/docs/assets/swagger-ui.css").status_code == 200
        assert client.get("/docs").status_code == 401
        assert client.get("/openapi.json").status_code == 401


def test_json_and_error_responses_carry_the_headers_too(daemon: Daemon) -> None:
    with daemon.client() as client:
        responses = [
            client.get("/api/agents"),
            client.get("/api/nothing"),
            client.get("/api/runs", headers={"host": "evil.example"}),
        ]
    for response in responses:
        assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_refusing_daemon_start_with_bad_browser_settings(tmp_path: Path) -> None:
    result = serve_refusal(
        tmp_path,
        "agents: []\nserver:\n  allowed_hosts: ['http://daemon.example/']\n  cors_origins: ['*']\n",
    )
    assert "axocoatl.yaml:3: server.allowed_hosts[0]: 'http://daemon.example/' is not a host name" in result
    assert "axocoatl.yaml:4: server.cors_origins: '*' without server.auth keys" in result


def test_two_host_headers_are_refused(daemon: Daemon) -> None:
    # Which one would the routes see? A raw request, since HTTP clients will not send two.
    request = (
        f"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1:{daemon.port}\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    assert status in (400, 421), answer[:300]
