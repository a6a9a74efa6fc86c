"""http_fetch and web_search, against loopback servers only."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from tests.tools.support import call, error, ok, pipeline

from axocoatl.config.loader import parse_config_text
from axocoatl.config.schema import HttpToolsConfig, ToolsConfig, WebSearchConfig
from axocoatl.config.validation import validate_config

PAGE = (
    b"<html><head><title>Bees</title><style>p{}</style><script>alert(1)</script></head>"
    b"<body><h1>About bees</h1><p>Bees make <b>honey</b>.</p></body></html>"
)
SEEN: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, kind: str = "text/plain", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        SEEN.append({"method": "GET", "path": self.path, "auth": self.headers.get("Authorization")})
        if self.path == "/page":
            self._send(200, PAGE, "text/html; charset=utf-8")
        elif self.path == "/big":
            self._send(200, b"z" * 50_000)
        elif self.path == "/hop":
            self._send(302, b"", Location="/page")
        elif self.path == "/away":
            port = self.server.server_address[1]
            self._send(302, b"", Location=f"http://localhost:{port}/page")
        elif self.path.startswith("/search?"):
            results = [{"title": f"r{i}", "url": f"http://x/{i}", "content": f"snippet {i}"} for i in range(9)]
            self._send(200, json.dumps({"results": results}).encode(), "application/json")
        else:
            self._send(404, b"not here")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        SEEN.append({"method": "POST", "path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if self.path == "/tavily":
            query = json.loads(body)
            results = [{"title": "T", "url": "http://t/1", "content": f"about {query['query']}"}]
            self._send(200, json.dumps({"results": results}).encode(), "application/json")
        else:
            self._send(200, b"got " + body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def allowed(**http: Any) -> ToolsConfig:
    return ToolsConfig(http=HttpToolsConfig(allow_hosts=["127.0.0.1"], **http))


async def test_fetch_gets_html_as_text_and_posts(tmp_path: Path, server: str) -> None:
    tools = pipeline(tmp_path, settings=allowed())
    page = await ok(tools, "http_fetch", url=f"{server}/page")
    assert page["status"] == 200 and page["title"] == "Bees"
    assert page["text"] == "About bees\nBees make honey."
    posted = await ok(tools, "http_fetch", url=f"{server}/echo", method="POST", body="hello")
    assert posted["text"] == "got hello"
    assert (await ok(tools, "http_fetch", url=f"{server}/hop"))["title"] == "Bees"
    assert (await ok(tools, "http_fetch", url=f"{server}/nope"))["status"] == 404


async def test_fetch_cuts_large_bodies(tmp_path: Path, server: str) -> None:
    tools = pipeline(tmp_path, settings=allowed(max_bytes=1000))
    big = await ok(tools, "http_fetch", url=f"{server}/big")
    assert big["text"] == "z" * 1000
    assert big["truncated"] == "the body was cut at 1000 bytes (tools.http.max_bytes)"
    # A body longer than the output cap: the text is cut to fit, the other fields stay.
    settings = allowed(max_bytes=40_000).model_copy(update={"max_output_chars": 500})
    record = await call(pipeline(tmp_path, settings=settings), "http_fetch", url=f"{server}/big")
    assert len(record.result) <= 500
    capped = json.loads(record.result)
    assert capped["truncated"] == "the body was cut at 40000 bytes (tools.http.max_bytes)"
    shown, mark = capped["text"].split("\n[truncated: ")
    assert set(shown) == {"z"} and mark == f"{40_000 - len(shown)} more characters not shown (limit 500)]"


async def test_loopback_and_private_hosts_are_refused_unless_allowed(tmp_path: Path, server: str) -> None:
    tools = pipeline(tmp_path)
    message = await error(tools, "http_fetch", url=f"{server}/page")
    assert "private, loopback or link-local address (127.0.0.1)" in message
    assert "tools.http.allow_hosts" in message
    for url in ("http://10.1.2.3/", "http://169.254.169.254/latest/meta-data", "http://[::1]:1/"):
        assert "private, loopback or link-local" in await error(tools, "http_fetch", url=url)
    assert "not an http(s) URL" in await error(tools, "http_fetch", url="file:///etc/passwd")


async def test_allow_and_deny_lists(tmp_path: Path, server: str) -> None:
    denied = pipeline(tmp_path, settings=allowed(deny_hosts=["127.0.0.1"]))
    assert "is denied (tools.http.deny_hosts)" in await error(denied, "http_fetch", url=f"{server}/page")
    only = pipeline(tmp_path, settings=ToolsConfig(http=HttpToolsConfig(allow_hosts=["*.example.org"])))
    assert "not in tools.http.allow_hosts: *.example.org" in await error(only, "http_fetch", url=f"{server}/page")


async def test_a_redirect_to_a_refused_host_is_not_followed(tmp_path: Path, server: str) -> None:
    tools = pipeline(tmp_path, settings=allowed(deny_hosts=["localhost"]))
    assert (await ok(tools, "http_fetch", url=f"{server}/hop"))["status"] == 200  # same host: followed
    before = len(SEEN)
    assert "host 'localhost' is denied" in await error(tools, "http_fetch", url=f"{server}/away")
    assert [s["path"] for s in SEEN[before:]] == ["/away"]  # the refused hop was never requested


async def test_web_search_with_searxng_and_tavily(tmp_path: Path, server: str) -> None:
    searx = pipeline(tmp_path, web_search=WebSearchConfig(provider="searxng", url=server, max_results=3))
    found = await ok(searx, "web_search", query="bees")
    assert found["query"] == "bees"
    assert [r["title"] for r in found["results"]] == ["r0", "r1", "r2"]
    assert found["results"][0] == {"title": "r0", "url": "http://x/0", "snippet": "snippet 0"}
    assert len((await ok(searx, "web_search", query="bees", max_results=5))["results"]) == 5
    tavily = pipeline(
        tmp_path, web_search=WebSearchConfig(provider="tavily", url=f"{server}/tavily", api_key=SecretStr("tvly-k"))
    )
    answer = await ok(tavily, "web_search", query="honey")
    assert answer["results"] == [{"title": "T", "url": "http://t/1", "snippet": "about honey"}]
    last = SEEN[-1]
    assert last["auth"] == "Bearer tvly-k"
    assert json.loads(last["body"]) == {"query": "honey", "max_results": 5, "search_depth": "basic"}


async def test_web_search_errors_are_clear(tmp_path: Path, server: str) -> None:
    assert "web_search is not configured" in await error(pipeline(tmp_path), "web_search", query="x")
    keyless = pipeline(tmp_path, web_search=WebSearchConfig(provider="tavily", url=f"{server}/tavily"))
    assert "web_search.api_key" in await error(keyless, "web_search", query="x")
    broken = pipeline(tmp_path, web_search=WebSearchConfig(provider="searxng", url=f"{server}/missing"))
    assert "answered HTTP 404" in await error(broken, "web_search", query="x")
    with pytest.raises(ValueError, match="provider 'searxng' needs the url"):
        WebSearchConfig(provider="searxng")


def test_validate_warns_about_web_search_without_a_backend() -> None:
    text = "agents:\n  - id: a\n    provider: mock\n    tools: [read_file, web_search]\n"
    loaded = parse_config_text(text, file="t.yaml", env={})
    [issue] = validate_config(loaded.config, loaded.source)
    assert (issue.path, issue.severity) == ("agents[a].tools[1]", "warning")
    assert issue.message == "tool 'web_search' has no backend: there is no web_search: section, so every call fails"
    configured = parse_config_text(text + "web_search: {provider: searxng, url: 'http://127.0.0.1:1'}\n", env={})
    assert validate_config(configured.config, configured.source) == []
