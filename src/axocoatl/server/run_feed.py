"""The progress events of one workflow run, queued for a streamed answer (OpenAI endpoint, A2A)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from axocoatl.core import events as ev
from axocoatl.core.events import RuntimeEvent
from axocoatl.store import RunRecord

PROGRESS = frozenset({ev.AGENT_ACTIVATED, ev.TASK_COMPLETED, ev.AGENT_FAILED, ev.STEP_SKIPPED})
Subscribe = Callable[[Callable[[RuntimeEvent], None]], Callable[[], None]]


class RunEvents:
    """The bus events of one run; None once it ended. Events before its id is known are held."""

    def __init__(self, subscribe: Subscribe, types: frozenset[str] = PROGRESS) -> None:
        self.run_id: str | None = None
        self.types = types
        self._held: list[RuntimeEvent] = []
        self.queue: asyncio.Queue[RuntimeEvent | None] = asyncio.Queue()
        self.close = subscribe(self._on_event)

    def _on_event(self, event: RuntimeEvent) -> None:
        if self.run_id is None:
            self._held.append(event)
        elif event.run_id == self.run_id and event.type in self.types:
            self.queue.put_nowait(event)

    def follow(self, run_id: str, task: asyncio.Task[RunRecord]) -> None:
        self.run_id = run_id
        for event in self._held:
            self._on_event(event)
        self._held = []

        def ended(_: object) -> None:
            self.close()
            self.queue.put_nowait(None)

        task.add_done_callback(ended)
