"""What a tool handler receives besides its arguments: who calls, where, until when."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from axocoatl.config.schema import ToolsConfig, WebSearchConfig
from axocoatl.store.records import WriteBatch
from axocoatl.tools.workspace import Workspace

if TYPE_CHECKING:
    from axocoatl.tools.processes import BackgroundTasks, CommandRunner


@dataclass(frozen=True)
class HumanReply:
    """What a person said to the question a workflow step asked (ask_human), as the step's row holds it.

    ``refused``: why this step cannot ask at all (a map item, an agent with an interrupt)."""

    answer: str | None = None
    expired: bool = False
    refused: str | None = None


class Asking(Protocol):
    """A workflow step's side of ask_human: the answer its parked question got, if any."""

    def human_reply(self) -> HumanReply: ...


@dataclass
class ToolContext:
    """One call's context. ``deadline`` is a ``time.monotonic()`` instant; ``writes`` are store writes that
    commit with the turn (a core-memory edit), so a turn that never commits never applies them."""

    agent_id: str
    call_id: str
    workspace: Workspace
    deadline: float
    settings: ToolsConfig
    runner: CommandRunner
    tasks: BackgroundTasks
    run_id: str | None = None
    step: str | None = None  # the workflow step (its agent id) the call belongs to
    thread: str | None = None
    web_search: WebSearchConfig | None = None
    asking: Asking | None = None  # a workflow step: where ask_human finds its answer
    resumed: bool = False  # the journal shows this call started before (the step was re-driven)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    writes: WriteBatch = field(default_factory=WriteBatch)
    # Undo the in-memory side of ``writes`` when the turn is abandoned before it commits.
    undo: list[Callable[[], None]] = field(default_factory=list)

    def remaining(self) -> float:
        """Seconds left before the call's deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())
