"""The live view of a run: which agents wait, run and finished, with their tokens."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from axocoatl.core import events as ev
from axocoatl.core.events import RuntimeEvent

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from axocoatl.store import RunRecord

_ICONS = {
    "pending": ("·", "dim"),
    "running": ("▶", "cyan"),
    "awaiting_approval": ("⏸", "magenta"),
    "completed": ("✓", "green"),
    "failed": ("✗", "red"),
    "skipped": ("↷", "yellow"),
    "cancelled": ("■", "yellow"),
}
_COORDINATOR_EVENTS = frozenset({ev.COORDINATOR_PLAN, ev.COORDINATOR_BID, ev.SUBTASK_STARTED, ev.SUBTASK_FINISHED})
_LABELS = {
    "pending": "waiting",
    "running": "running",
    "awaiting_approval": "awaiting approval",
    "completed": "finished",
    "failed": "failed",
    "skipped": "skipped",
    "cancelled": "cancelled",
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
    labels: dict[str, str] = field(default_factory=dict)  # row key -> what the table shows (a coordinator's subtasks)

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

    def seed_plan(self, plan: dict[str, Any] | None) -> None:
        """Show a coordinator's subtasks as rows (a resumed run: with what finished before)."""
        for task in (plan or {}).get("tasks", []):
            row = self._subtask_row(task["id"], task.get("worker"))
            if task["status"] in ("completed", "failed"):
                row.status = task["status"]
                row.tokens_in, row.tokens_out = task["tokens"]["input"], task["tokens"]["output"]
                row.note = "before resume" if task["status"] == "completed" else str(task.get("error") or "")[:80]

    def _subtask_row(self, task_id: str, worker: str | None = None) -> _Row:
        key = f"subtask:{task_id}"
        self.labels[key] = f"  ↳ {task_id}" + (f" ({worker})" if worker else "")
        return self._row(key)

    def _coordinator(self, event: RuntimeEvent) -> str | None:
        p = event.payload
        if event.type == ev.COORDINATOR_PLAN:
            tasks = p.get("tasks", [])
            for task in tasks:
                self._subtask_row(task["id"])
            listed = ", ".join(
                task["id"] + (f" (after {', '.join(task['after'])})" if task.get("after") else "") for task in tasks
            )
            return f"▤ plan ({p.get('source')}): {len(tasks)} subtask(s): {listed}"
        if event.type == ev.COORDINATOR_BID:
            task, winner = str(p.get("task")), str(p.get("winner"))
            row = self._subtask_row(task, winner)
            if p.get("adhoc"):
                row.note = "ad-hoc worker"
                return f"⚖ {task} → {winner} (ad-hoc: no worker holds its tools)"
            bids = p.get("bids") or []
            row.note = f"bid {p.get('score')}"
            others = ", ".join(f"{b['worker']} {b['score']}" for b in bids[1:4])
            return f"⚖ {task} → {winner} {p.get('score')}" + (f" (runner-up: {others})" if others else "")
        if event.type == ev.SUBTASK_STARTED:
            task, worker = str(p.get("task")), str(p.get("worker"))
            row = self._subtask_row(task, worker)
            row.status, row.started, row.note = "running", time.monotonic(), f"attempt {p.get('attempt')}"
            return f"▶ {task} on {worker} (attempt {p.get('attempt')})"
        if event.type == ev.SUBTASK_FINISHED:
            task, finisher = str(p.get("task")), p.get("worker")
            worker = str(finisher) if finisher else ""
            row = self._subtask_row(task, worker or None)
            row.elapsed = time.monotonic() - row.started if row.started else None
            if p.get("status") == "completed":
                tokens = p.get("tokens") or {}
                row.status, row.note = "completed", ""
                row.tokens_in, row.tokens_out = int(tokens.get("input", 0)), int(tokens.get("output", 0))
                return f"✓ {task} by {worker} ({row.tokens_in + row.tokens_out} tokens)"
            error = str(p.get("error", ""))
            if p.get("retry"):
                row.status, row.note, row.started, row.elapsed = "pending", f"retrying: {error[:60]}", None, None
                return f"✗ {task} by {worker} failed, retrying: {error}"
            row.status, row.note = "failed", error[:80]
            return f"✗ {task}" + (f" by {worker}" if worker else "") + f" failed: {error}"
        return None

    def apply(self, event: RuntimeEvent) -> str | None:
        """Update the view; returns a log line for plain (non-TTY) output, if the event deserves one."""
        if self.run_id is not None and event.run_id not in (None, self.run_id):
            return None
        if event.type == ev.RUN_STARTED:
            trigger = event.payload.get("trigger")
            return f"run started by {trigger}" if trigger not in (None, "manual") else None
        if event.type in _COORDINATOR_EVENTS:
            return self._coordinator(event)
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
        if event.type == ev.APPROVAL_REQUESTED and row:
            p = event.payload
            row.status, row.note = "awaiting_approval", f"{p.get('tool')} waits: {p.get('approval_id')}"
            return approval_notice(p)
        if event.type == ev.APPROVAL_DECIDED and row:
            p = event.payload
            row.status, row.note = "running", f"{p.get('tool')} {p.get('status')}"
            return f"  {agent}: {p.get('tool')} {p.get('status')} ({p.get('decided_by')})"
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
        if event.type == ev.RUN_CANCELLED:
            for stopped in event.payload.get("steps", []):
                cancelled = self._row(str(stopped))
                cancelled.status, cancelled.note = "cancelled", ""
                cancelled.elapsed = time.monotonic() - cancelled.started if cancelled.started else None
            return "■ run cancelled"
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
                escape(self.labels.get(agent, agent)),
                f"[{style}]{icon} {escape(_LABELS.get(row.status, row.status))}[/]",
                f"{row.tokens_in}/{row.tokens_out}" if row.tokens_in or row.tokens_out else "",
                f"{elapsed:.1f}s" if elapsed is not None else "",
                f"[dim]{escape(row.note)}[/]" if row.note else "",
            )
        return table


def approval_notice(request: dict[str, object]) -> str:
    """What a person reads when a call waits for them, and how to answer."""
    from axocoatl.cli.common import prefix

    approval_id = request.get("approval_id")
    axocoatl = prefix()
    return (
        f"⏸ {request.get('agent_id')} wants to call {request.get('tool')} and waits for approval "
        f"(until {request.get('expires_at')}; unanswered, it is denied)\n"
        f"  allow: {axocoatl} approvals allow {approval_id}    "
        f"deny: {axocoatl} approvals deny {approval_id} --reason TEXT"
    )


def print_run_summary(console: Console, run: RunRecord) -> None:
    from rich.markup import escape
    from rich.panel import Panel

    subtasks = (run.plan or {}).get("tasks", [])
    usage = run.usage()
    total_in, total_out = usage.input, usage.output
    elapsed = (run.finished_at - run.started_at) if run.finished_at else None
    if run.final_output and console.is_terminal:
        console.print(Panel(escape(run.final_output), title="final output", title_align="left", border_style="green"))
    elif run.final_output:
        # Piped: the answer as it is (no box, no wrapping), so it can be saved or fed to another program.
        console.print(run.final_output, markup=False, highlight=False)
    style = {"completed": "green", "waiting": "yellow", "cancelled": "yellow"}.get(run.status, "red")
    done = sum(1 for s in run.steps if s.status == "completed")
    took = f" in {elapsed:.1f}s" if elapsed is not None else ""
    finished = sum(1 for t in subtasks if t["status"] == "completed")
    counted = f" · {finished}/{len(subtasks)} subtasks" if subtasks else ""
    trigger = f" · triggered by {escape(run.trigger)}" if run.trigger != "manual" else ""
    console.print(
        f"[{style}]run {run.run_id} {run.status}[/]{took} · {done}/{len(run.steps)} steps{counted} · "
        f"{total_in + total_out} tokens ({total_in} in / {total_out} out){trigger}"
    )
    if run.error:
        console.print(f"[red]{escape(run.error)}[/]")
    for step in run.steps:
        if step.status == "failed":
            console.print(f"  [red]✗ {escape(step.agent_id)}[/]: {escape(step.error or '')}")
    from axocoatl.cli.common import prefix

    if run.status in ("interrupted", "cancelled"):
        console.print(f"resume it with: {prefix()} runs resume {run.run_id}", markup=False)
    for step in run.steps:
        if step.status == "waiting":
            console.print(f"  [yellow]? {escape(step.agent_id)}[/] asks: {escape(step.question or '')}")
            if step.output:
                console.print(f"    its output: {escape(step.output[:500])}")
            console.print(f"    answer with: {prefix()} runs answer {run.run_id} {step.agent_id} -m TEXT", markup=False)


def print_plan(console: Console, plan: dict[str, Any]) -> None:
    """A coordinator run's plan for `runs show`: each subtask with its worker, score and attempts."""
    from rich.markup import escape

    planning = plan.get("planning_tokens") or {"input": 0, "output": 0}
    spent = planning["input"] + planning["output"]
    decomposed = f", decomposition {spent} tokens" if spent else ""
    console.print(
        f"\n[bold]plan[/] ({escape(str(plan.get('source')))}, root task {escape(str(plan.get('root')))}{decomposed})"
    )
    for task in plan.get("tasks", []):
        icon, style = _ICONS.get(task["status"], ("?", ""))
        after = f" after {', '.join(task['after'])}" if task.get("after") else ""
        tools = f" tools {', '.join(task['tools'])}" if task.get("tools") else ""
        worker = task.get("worker") or "-"
        score = f" score {task['score']}" if task.get("score") is not None else ""
        adhoc = " (ad-hoc)" if task.get("adhoc") else ""
        tokens = task["tokens"]["input"] + task["tokens"]["output"]
        console.print(
            f"  [{style}]{icon}[/] [bold]{escape(task['id'])}[/]{escape(after + tools)} — {escape(task['status'])}, "
            f"worker {escape(worker)}{adhoc}{score}, attempts {len(task['attempts'])}, {tokens} tokens"
        )
        for number, attempt in enumerate(task["attempts"], 1):
            if attempt.get("error"):
                console.print(
                    f"      [red]attempt {number} ({escape(attempt['worker'])}): {escape(attempt['error'])}[/]"
                )
        if task.get("error") and not task["attempts"]:
            console.print(f"      [red]{escape(task['error'])}[/]")
