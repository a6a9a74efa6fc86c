"""The live view of a run: which agents wait, run and finished, with their tokens."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from axocoatl.core import events as ev
from axocoatl.core.events import RuntimeEvent

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from axocoatl.store import RunRecord

_ICONS = {
    "pending": ("·", "dim"),
    "running": ("▶", "cyan"),
    "completed": ("✓", "green"),
    "failed": ("✗", "red"),
    "skipped": ("↷", "yellow"),
}
_LABELS = {
    "pending": "waiting",
    "running": "running",
    "completed": "finished",
    "failed": "failed",
    "skipped": "skipped",
}


@dataclass
class _Row:
    status: str = "pending"
    tokens_in: int = 0
    tokens_out: int = 0
    started: float | None = None
    elapsed: float | None = None
    note: str = ""


@dataclass
class RunView:
    """Folds bus events of one run into a table; printable as a plain log when not a TTY."""

    order: list[str]
    run_id: str | None = None
    rows: dict[str, _Row] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        for agent in self.order:
            self.rows.setdefault(agent, _Row())

    def _row(self, agent: str) -> _Row:
        if agent not in self.rows:
            self.rows[agent] = _Row()
            if agent not in self.order:
                self.order.append(agent)
        return self.rows[agent]

    def seed(self, run: RunRecord) -> None:
        """Show steps that finished before this view started watching (a resumed run)."""
        for step in sorted(run.steps, key=lambda s: s.position):
            row = self._row(step.agent_id)
            if row.status == "pending" and step.status in ("completed", "failed", "skipped"):
                row.status = step.status
                row.tokens_in, row.tokens_out = step.tokens_in, step.tokens_out
                if step.started_at and step.finished_at:
                    row.elapsed = step.finished_at - step.started_at
                row.note = "before resume" if step.status == "completed" else (step.error or "")[:80]

    def apply(self, event: RuntimeEvent) -> str | None:
        """Update the view; returns a log line for plain (non-TTY) output, if the event deserves one."""
        if self.run_id is not None and event.run_id not in (None, self.run_id):
            return None
        agent = event.agent_id
        row = self._row(agent) if agent else None
        if event.type == ev.AGENT_ACTIVATED and row:
            row.status, row.started, row.note = "running", time.monotonic(), ""
            return f"▶ {agent} started"
        if event.type == ev.LLM_CALL_FINISHED and row:
            row.tokens_in += int(event.payload.get("input", 0))
            row.tokens_out += int(event.payload.get("output", 0))
            return None
        if event.type == ev.TOOL_CALL_STARTED and row:
            row.note = f"tool {event.payload.get('name')}"
            return f"  {agent} → {event.payload.get('name')}"
        if event.type == ev.TASK_COMPLETED and row:
            tokens = event.payload.get("tokens", {})
            row.status, row.note = "completed", ""
            row.tokens_in, row.tokens_out = int(tokens.get("input", 0)), int(tokens.get("output", 0))
            row.elapsed = time.monotonic() - row.started if row.started else None
            return f"✓ {agent} finished ({row.tokens_in + row.tokens_out} tokens)"
        if event.type == ev.AGENT_FAILED and row:
            row.status, row.note = "failed", str(event.payload.get("error", ""))[:80]
            row.elapsed = time.monotonic() - row.started if row.started else None
            return f"✗ {agent} failed: {event.payload.get('error', '')}"
        if event.type == ev.STEP_SKIPPED and row:
            row.status, row.note = "skipped", str(event.payload.get("reason", ""))[:80]
            return f"↷ {agent} skipped: {event.payload.get('reason', '')}"
        return None

    def render(self) -> RenderableType:
        from rich.markup import escape
        from rich.table import Table

        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("agent")
        table.add_column("status")
        table.add_column("tokens in/out", justify="right")
        table.add_column("time", justify="right")
        table.add_column("", overflow="ellipsis", no_wrap=True, max_width=60)
        now = time.monotonic()
        for agent in self.order:
            row = self._row(agent)
            icon, style = _ICONS.get(row.status, ("?", ""))
            elapsed = row.elapsed if row.elapsed is not None else (now - row.started if row.started else None)
            table.add_row(
                escape(agent),
                f"[{style}]{icon} {escape(_LABELS.get(row.status, row.status))}[/]",
                f"{row.tokens_in}/{row.tokens_out}" if row.tokens_in or row.tokens_out else "",
                f"{elapsed:.1f}s" if elapsed is not None else "",
                f"[dim]{escape(row.note)}[/]" if row.note else "",
            )
        return table


def print_run_summary(console: Console, run: RunRecord) -> None:
    from rich.markup import escape
    from rich.panel import Panel

    total_in = sum(s.tokens_in for s in run.steps)
    total_out = sum(s.tokens_out for s in run.steps)
    elapsed = (run.finished_at - run.started_at) if run.finished_at else None
    if run.final_output and console.is_terminal:
        console.print(Panel(escape(run.final_output), title="final output", title_align="left", border_style="green"))
    elif run.final_output:
        # Piped: the answer as it is (no box, no wrapping), so it can be saved or fed to another program.
        console.print(run.final_output, markup=False, highlight=False)
    style = "green" if run.status == "completed" else "red"
    done = sum(1 for s in run.steps if s.status == "completed")
    took = f" in {elapsed:.1f}s" if elapsed is not None else ""
    console.print(
        f"[{style}]run {run.run_id} {run.status}[/]{took} · {done}/{len(run.steps)} steps · "
        f"{total_in + total_out} tokens ({total_in} in / {total_out} out)"
    )
    if run.error:
        console.print(f"[red]{escape(run.error)}[/]")
    for step in run.steps:
        if step.status == "failed":
            console.print(f"  [red]✗ {escape(step.agent_id)}[/]: {escape(step.error or '')}")
    if run.status == "interrupted":
        console.print(f"resume it with: axocoatl runs resume {run.run_id}")
