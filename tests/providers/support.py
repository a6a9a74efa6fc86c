"""A provider's HTTP server in tests: an ``httpx.MockTransport`` handler that records what it was sent."""

from __future__ import annotations

import json
from typing import Any

import httpx


class Server:
    """Answers every request with ``status`` and ``body``; ``json`` is the last request's JSON body."""

    def __init__(self, body: str = "", status: int = 200) -> None:
        self.body, self.status = body, status
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, content=self.body.encode())

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.requests[-1].content)
        return data
