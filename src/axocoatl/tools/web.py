"""The web tools: http_fetch (GET/POST, size cap, HTML as text, host rules) and web_search (Tavily, SearXNG).

Host rules (tools.http): a host in deny_hosts is refused; when allow_hosts is set, only its hosts
are reached; private, loopback and link-local addresses are refused unless allow_hosts names
the host, so a model cannot reach services on the machine or its network by accident.
Redirects are followed by hand, each hop checked against the same rules.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from axocoatl.config.schema import HttpToolsConfig
from axocoatl.core.errors import ToolError
from axocoatl.tools.context import ToolContext
from axocoatl.tools.registry import Tool
from axocoatl.tools.results import fit_field

MAX_REDIRECTS = 5
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "head"})
_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "pre"})


def _matches(host: str, rules: list[str]) -> bool:
    for rule in rules:
        rule = rule.lower().strip()
        if rule.startswith("*.") and (host.endswith(rule[1:]) or host == rule[2:]):
            return True
        if host == rule or host == rule.split(":")[0]:
            return True
    return False


async def check_host(url: str, rules: HttpToolsConfig) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolError(f"http_fetch: '{url}' is not an http(s) URL with a host")
    host = parts.hostname.lower()
    if _matches(host, rules.deny_hosts):
        raise ToolError(f"http_fetch: host '{host}' is denied (tools.http.deny_hosts)")
    allowed = _matches(host, rules.allow_hosts)
    if rules.allow_hosts and not allowed:
        raise ToolError(f"http_fetch: host '{host}' is not in tools.http.allow_hosts: {', '.join(rules.allow_hosts)}")
    if allowed:
        return
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ToolError(f"http_fetch: cannot resolve host '{host}': {exc}") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved:
            raise ToolError(
                f"http_fetch: '{host}' is a private, loopback or link-local address ({address}); "
                "list it in tools.http.allow_hosts to allow it"
            )


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _SKIP_TAGS and self.skip:
            self.skip -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if not self.skip:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """(title, readable text) of an HTML page: scripts and styles dropped, blocks on their own lines."""
    parser = _Text()
    parser.feed(html)
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return parser.title.strip(), "\n".join(line for line in lines if line)


async def _http_fetch(args: dict[str, Any], ctx: ToolContext) -> Any:
    rules = ctx.settings.http
    method = str(args.get("method") or "GET").upper()
    url = args["url"]
    body = args.get("body")
    headers = {str(k): str(v) for k, v in (args.get("headers") or {}).items()}
    timeout = min(rules.timeout_secs, max(ctx.remaining(), 0.1))
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            await check_host(url, rules)
            request = client.build_request(method, url, headers=headers, content=body if method == "POST" else None)
            try:
                response = await client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise ToolError(f"http_fetch: {type(exc).__name__} fetching {url}: {exc}") from exc
            try:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    if response.status_code in (301, 302, 303):
                        method, body = "GET", None
                    continue
                data, cut = await _read_capped(response, rules.max_bytes)
            finally:
                await response.aclose()
            # Cut the text, not the JSON: the fields after it (truncated) stay visible.
            return fit_field(_render(url, response, data, cut, rules.max_bytes), "text", ctx.settings.max_output_chars)
    raise ToolError(f"http_fetch: more than {MAX_REDIRECTS} redirects from {args['url']}")


async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data.extend(chunk)
        if len(data) > limit:
            return bytes(data[:limit]), True
    return bytes(data), False


def _render(url: str, response: httpx.Response, data: bytes, cut: bool, limit: int) -> dict[str, Any]:
    kind = response.headers.get("content-type", "")
    text = data.decode(response.encoding or "utf-8", errors="replace")
    result: dict[str, Any] = {"url": url, "status": response.status_code, "content_type": kind}
    if "html" in kind:
        title, text = html_to_text(text)
        if title:
            result["title"] = title
    result["text"] = text
    if cut:
        result["truncated"] = f"the body was cut at {limit} bytes (tools.http.max_bytes)"
    return result


async def _web_search(args: dict[str, Any], ctx: ToolContext) -> Any:
    config = ctx.web_search
    if config is None:
        raise ToolError("web_search is not configured; add a web_search: section to axocoatl.yaml (docs/tools.md)")
    query = args["query"].strip()
    if not query:
        raise ToolError("web_search: 'query' is empty")
    count = max(1, min(15, int(args.get("max_results") or config.max_results)))
    timeout = min(config.timeout_secs, max(ctx.remaining(), 0.1))
    async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
        try:
            if config.provider == "searxng":
                assert config.url is not None
                response = await client.get(config.url.rstrip("/") + "/search", params={"q": query, "format": "json"})
                response.raise_for_status()
                raw = response.json().get("results") or []
                results = [
                    {"title": r.get("title", ""), "url": r.get("url", ""), "snippet": r.get("content", "")}
                    for r in raw[:count]
                ]
            else:
                if config.api_key is None:
                    raise ToolError("web_search: web_search.api_key (your Tavily key) is not set")
                url = config.url or "https://api.tavily.com/search"
                payload = {"query": query, "max_results": count, "search_depth": "basic"}
                headers = {"Authorization": f"Bearer {config.api_key.get_secret_value()}"}
                response = await client.post(url, json=payload, headers=headers)
                response.raise_for_status()
                raw = response.json().get("results") or []
                results = [
                    {"title": r.get("title", ""), "url": r.get("url", ""), "snippet": r.get("content", "")}
                    for r in raw[:count]
                ]
        except httpx.HTTPStatusError as exc:
            raise ToolError(
                f"web_search: the {config.provider} backend answered HTTP {exc.response.status_code}"
            ) from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise ToolError(f"web_search: the {config.provider} backend failed: {type(exc).__name__}: {exc}") from exc
    return {"query": query, "results": results}


WEB_TOOLS: tuple[Tool, ...] = (
    Tool(
        "http_fetch",
        "Fetch a URL (GET, or POST with a body). HTML pages come back as readable text; large bodies are cut.",
        {
            "type": "object",
            "properties": {
                "url": {"type": "string"},
                "method": {"type": "string", "enum": ["GET", "POST", "get", "post"]},
                "body": {"type": "string", "description": "Request body (POST)."},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "required": ["url"],
            "additionalProperties": False,
        },
        _http_fetch,
        effect="external",
        timeout_secs=60,
    ),
    Tool(
        "web_search",
        "Search the web; returns results with title, url and a snippet.",
        {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "max_results": {"type": "integer", "minimum": 1, "maximum": 15},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        _web_search,
        timeout_secs=60,
    ),
)
