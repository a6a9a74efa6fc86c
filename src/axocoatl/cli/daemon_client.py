"""Finding the running daemon (``<data dir>/daemon.json``) and talking to its HTTP API.

While a live daemon owns a data dir, the CLI sends runs, resumes, skill fires and reports
to it instead of opening the database itself: two processes driving the same runs would
race. A daemon that owns the data dir but does not answer is an error, never a reason to
fall back to running in-process.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core.errors import AxocoatlError, UsageError
from axocoatl.runtime.daemon import DaemonInfo, daemon_file, read_daemon_info

NO_DAEMON = "no daemon is running (start one with `axocoatl dev`)"
# Answers that mean "this request does not fit" (unknown id, wrong state, bad input): the
# in-process path raises a UsageError for the same cases, so the exit code is the same (2).
REFUSED_STATUSES = frozenset({400, 404, 409, 422})


class DaemonError(AxocoatlError):
    """The daemon answered with an error, or could not be reached."""

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class DaemonRefused(DaemonError, UsageError):
    """The daemon refused the request as the in-process path would (unknown id, wrong state)."""


class DaemonLost(DaemonError):
    """The connection to the daemon broke while it was streaming a reply."""


def daemon_error(message: str, *, hint: str | None = None, status: int | None = None) -> DaemonError:
    cls = DaemonRefused if status in REFUSED_STATUSES else DaemonError
    return cls(message, hint=hint, status=status)


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
    data_dir: Path | None = None

    @classmethod
    def discover(cls, data_dir: Path, config: AxocoatlConfig | None) -> DaemonClient | None:
        """The daemon owning ``data_dir``, or None (no daemon.json, or its process is gone)."""
        info = read_daemon_info(data_dir)
        if info is None:
            return None
        return cls(info, api_key_for(config), data_dir=data_dir)

    @property
    def url(self) -> str:
        return self.info.url

    def unreachable(self, exc: Exception) -> DaemonError:
        owner = f"the daemon (pid {self.info.pid})"
        if self.data_dir is not None:
            owner += f" that owns {self.data_dir}"
        info_file = daemon_file(self.data_dir) if self.data_dir is not None else "its daemon.json"
        return DaemonError(
            f"{owner} does not answer at {self.url}: {_reason(exc)}",
            hint=f"wait until it has started and retry, or stop it (kill -TERM {self.info.pid}); if no daemon "
            f"runs there any more, delete {info_file}. The CLI does not open the database while a daemon owns it",
        )

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key} if self.api_key else {}

    def _client(self, timeout: float | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self._headers(), timeout=timeout or self.timeout)

    def request(self, method: str, path: str, *, json_body: Any = None, params: dict[str, Any] | None = None) -> Any:
        try:
            with self._client() as client:
                response = client.request(method, path, json=json_body, params=params)
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
        return _result(response)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json_body=body)

    def async_client(self) -> httpx.AsyncClient:
        # Turns and runs can take minutes: no read timeout while a reply streams.
        timeout = httpx.Timeout(10.0, read=None)
        return httpx.AsyncClient(base_url=self.url, headers=self._headers(), timeout=timeout)

    async def stream(
        self, client: httpx.AsyncClient, path: str, body: Any = None
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """POST and yield the ``(event, data)`` pairs of a Server-Sent Events reply."""
        headers = {"accept": "text/event-stream"}
        connected = False
        try:
            async with client.stream("POST", path, json=body, headers=headers) as response:
                connected = True
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
            if not connected:
                raise self.unreachable(exc) from None
            raise DaemonLost(
                f"lost the daemon at {self.url} while streaming: {_reason(exc)}", hint="is it still running?"
            ) from None


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _result(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success:
        return body
    status = response.status_code
    if isinstance(body, dict) and "error" in body:
        raise daemon_error(str(body["error"]), hint=body.get("hint"), status=status)
    raise daemon_error(f"the daemon answered HTTP {status}", status=status)
