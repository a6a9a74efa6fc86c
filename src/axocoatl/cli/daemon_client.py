"""Finding the running daemon (``<data dir>/daemon.json``) and talking to its HTTP API."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core.errors import AxocoatlError
from axocoatl.runtime.daemon import DaemonInfo, read_daemon_info

NO_DAEMON = "no daemon is running (start one with `axocoatl dev`)"


class DaemonError(AxocoatlError):
    """The daemon answered with an error, or could not be reached."""

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


def api_key_for(config: AxocoatlConfig | None) -> str | None:
    """The key the CLI sends: $AXOCOATL_API_KEY, else the config's first API key or bearer token."""
    env = os.environ.get("AXOCOATL_API_KEY")
    if env:
        return env
    if config is None:
        return None
    auth = config.server.auth
    for secret in (*auth.api_keys, *auth.bearer_tokens):
        value = secret.get_secret_value()
        if value:
            return value
    return None


@dataclass
class DaemonClient:
    info: DaemonInfo
    api_key: str | None = None
    timeout: float = 30.0

    @classmethod
    def discover(cls, data_dir: Path, config: AxocoatlConfig | None) -> DaemonClient | None:
        info = read_daemon_info(data_dir)
        if info is None:
            return None
        return cls(info, api_key_for(config))

    @property
    def url(self) -> str:
        return self.info.url

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key} if self.api_key else {}

    def _client(self, timeout: float | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self._headers(), timeout=timeout or self.timeout)

    def request(self, method: str, path: str, *, json_body: Any = None, params: dict[str, Any] | None = None) -> Any:
        try:
            with self._client() as client:
                response = client.request(method, path, json=json_body, params=params)
        except httpx.HTTPError as exc:
            raise DaemonError(
                f"cannot reach the daemon at {self.url}: {exc}",
                hint="is it still starting or shutting down? `axocoatl dev` starts one",
            ) from None
        return _result(response)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json_body=body)

    def async_client(self) -> httpx.AsyncClient:
        # Turns can take minutes: no read timeout while a reply streams.
        timeout = httpx.Timeout(10.0, read=None)
        return httpx.AsyncClient(base_url=self.url, headers=self._headers(), timeout=timeout)


def _result(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success:
        return body
    if isinstance(body, dict) and "error" in body:
        raise DaemonError(str(body["error"]), hint=body.get("hint"), status=response.status_code)
    raise DaemonError(f"the daemon answered HTTP {response.status_code}", status=response.status_code)


async def stream_sse(client: httpx.AsyncClient, path: str, body: Any) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """POST and yield the ``(event, data)`` pairs of a Server-Sent Events reply."""
    headers = {"accept": "text/event-stream"}
    try:
        async with client.stream("POST", path, json=body, headers=headers) as response:
            if not response.is_success:
                await response.aread()
                _result(response)
            event, data = "message", list[str]()
            async for line in response.aiter_lines():
                if not line:
                    if data:
                        yield event, json.loads("\n".join(data))
                    event, data = "message", []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
    except httpx.HTTPError as exc:
        raise DaemonError(f"lost the daemon while streaming: {exc}", hint="is it still running?") from None
