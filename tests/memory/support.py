"""Helpers for memory tests: a recording mock provider with a configurable window, configs, store reads."""

from __future__ import annotations

import sqlite3
import textwrap
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from axocoatl.config.loader import parse_config_text
from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core.errors import ProviderUnavailable
from axocoatl.providers.base import ChatRequest, ProviderCapabilities, StreamEvent
from axocoatl.providers.mock import MockProvider
from axocoatl.runtime.runtime import Runtime

T = TypeVar("T")


class Recorder(MockProvider):
    """The mock provider, recording every request; optionally with a small context window.

    ``fail_purposes`` makes memory's own calls (metadata purpose "summary" or
    "consolidation") fail, to test that they never take a turn down.
    """

    def __init__(self, *, context_tokens: int = 32768, fail_purposes: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.context_tokens = context_tokens
        self.fail_purposes = fail_purposes
        self.requests: list[ChatRequest] = []

    def capabilities(self, model: str) -> ProviderCapabilities:
        return ProviderCapabilities(max_context_tokens=self.context_tokens, max_output_tokens=512)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        if request.metadata.get("purpose") in self.fail_purposes:
            raise ProviderUnavailable("injected failure", provider=self.name)
        async for event in super().stream(request):
            yield event

    def turn_requests(self, agent_id: str | None = None) -> list[ChatRequest]:
        """Requests of agent turns (not memory's summary/consolidation calls)."""
        return [
            r
            for r in self.requests
            if "purpose" not in r.metadata and (agent_id is None or r.metadata.get("agent_id") == agent_id)
        ]

    def purpose(self, purpose: str) -> list[ChatRequest]:
        return [r for r in self.requests if r.metadata.get("purpose") == purpose]


def config(text: str) -> AxocoatlConfig:
    return parse_config_text(textwrap.dedent(text), file="test.yaml", env={}).config


def system_text(request: ChatRequest) -> str:
    return request.messages[0].content if request.messages and request.messages[0].role == "system" else ""


def on_database(rt: Runtime, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` on a connection of its own to the runtime's database file, as another process would."""
    db = sqlite3.connect(rt.store.path, isolation_level=None)  # type: ignore[attr-defined]
    try:
        return fn(db)
    finally:
        db.close()


async def ledger_kinds(rt: Runtime, agent_id: str) -> list[str]:
    def read(db: sqlite3.Connection) -> list[str]:
        return [r[0] for r in db.execute("SELECT kind FROM token_ledger WHERE agent_id = ? ORDER BY id", (agent_id,))]

    return on_database(rt, read)


async def count_rows(rt: Runtime, table: str, agent_id: str) -> int:
    def read(db: sqlite3.Connection) -> int:
        return int(db.execute(f"SELECT COUNT(*) FROM {table} WHERE agent_id = ?", (agent_id,)).fetchone()[0])

    return on_database(rt, read)
