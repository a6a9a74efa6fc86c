"""The approval gate: a call that needs a person's decision waits for it, durably, and is denied if none comes.

Other layers that need a person's answer use the same gate (an MCP server's elicitation, an A2A
task in ``input-required``)::

    decision = await gate.request(
        agent_id="researcher", source="mcp:github", tool="create_issue", arguments={...},
        key="run-1:researcher:1:0:2",  # optional: the same key finds the same request again (after a restart)
        run_id="run-1", message="create an issue in acme/app?", kind="tool_call",
        parking=step,  # optional: told when the caller starts and stops waiting (a step shows awaiting_approval)
    )
    if not decision.allowed:
        raise ToolError(decision.message)

``request`` stores a request (durably, with its deadline: now + ``approval.timeout_secs``). A decision
saved by scope (most specific wins: agent counts 2, tool 1; deny wins a tie) answers it at once.
Otherwise the request is published and the caller waits until someone decides it
(``decide``: the CLI, the API, the WebSocket, in this process or another one sharing the database)
or the deadline passes, which denies it. A request found again by its key after a restart keeps its
first deadline. A cancelled wait leaves the request pending: the step that resumes asks again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from axocoatl.config.schema import ApprovalConfig
from axocoatl.core.errors import NotFound, UsageError
from axocoatl.core.ids import Clock, new_id
from axocoatl.store import APPROVAL_SCOPES, ApprovalRecord, ApprovalRule, ApprovalScope, Store

POLL_SECS = 0.5  # how often a waiting request looks for a decision another process made
PREVIEW_CHARS = 2048  # of a request's arguments, stored and shown

Notify = Callable[[Literal["requested", "decided"], ApprovalRecord], None]


@dataclass(frozen=True)
class Decision:
    """The outcome of a request. ``decided_by``: user, rule (saved by scope) or timeout."""

    allowed: bool
    reason: str | None
    decided_by: str
    scope: str
    approval_id: str | None = None  # None: a saved decision answered without a request

    @property
    def message(self) -> str:
        """What the model sees when the call is denied."""
        why = self.reason or "no reason given"
        if self.decided_by == "timeout":
            return f"denied: {why}"
        if self.decided_by == "rule":
            return f"denied by a saved decision: {why}"
        return f"denied by the user: {why}"


class Parking(Protocol):
    """Told when a caller starts and stops waiting for a decision (a workflow step shows awaiting_approval)."""

    async def parked(self, request: ApprovalRecord) -> None: ...

    async def resumed(self, request: ApprovalRecord) -> None: ...


class ApprovalGate:
    """Requests, decisions and the wait between them, over the store (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: Callable[[], ApprovalConfig] = ApprovalConfig,
        *,
        notify: Notify | None = None,
        poll_secs: float = POLL_SECS,
    ) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self.notify = notify
        self._poll = poll_secs
        self._waiting: dict[str, asyncio.Event] = {}  # approval id -> set when it may have been decided

    # ------------------------------------------------------------------ policy

    def required(self, tool: str, source: str, agent_tools: frozenset[str] = frozenset()) -> bool:
        """Whether a call of ``tool`` (from ``source``) waits for approval by the config alone."""
        settings = self._settings()
        return tool in agent_tools or tool in settings.tools or source in settings.sources

    # ------------------------------------------------------------------ asking

    async def request(
        self,
        *,
        agent_id: str,
        source: str,
        tool: str,
        arguments: Mapping[str, Any],
        key: str | None = None,
        run_id: str | None = None,
        thread: str | None = None,
        kind: str = "tool_call",
        message: str = "",
        parking: Parking | None = None,
    ) -> Decision:
        """Wait for the decision on one call; never raises for a denial (the Decision says so)."""
        rule = await self._store.approval_rule(agent_id, source, tool)
        now = self._clock.now()
        record = await self._store.add_approval(
            ApprovalRecord(
                approval_id=new_id("appr"),
                agent_id=agent_id,
                source=source,
                tool=tool,
                arguments=_preview(arguments),
                created_at=now,
                expires_at=now + self._settings().timeout_secs,
                key=key,
                kind=kind,
                message=message,
                run_id=run_id,
                thread=thread,
            )
        )
        if record.status == "pending" and rule is not None:
            # Recorded too, so `approvals list` shows what a saved decision answered.
            record = await self._decide_by_rule(record, rule)
        if record.status != "pending":
            return _outcome(record)
        return await self._wait(record, parking)

    async def _wait(self, record: ApprovalRecord, parking: Parking | None) -> Decision:
        event = self._waiting[record.approval_id] = asyncio.Event()
        try:
            if self.notify is not None:
                self.notify("requested", record)
            if parking is not None:
                await parking.parked(record)
            while record.status == "pending":
                left = record.expires_at - self._clock.now()
                if left <= 0:
                    record = await self._expire(record)
                    break
                try:
                    async with asyncio.timeout(min(left, self._poll)):
                        await event.wait()
                except TimeoutError:
                    pass
                event.clear()
                stored = await self._store.get_approval(record.approval_id)
                if stored is not None:
                    record = stored
                if record.status == "pending":
                    rule = await self._store.approval_rule(record.agent_id, record.source, record.tool)
                    if rule is not None:
                        record = await self._decide_by_rule(record, rule)
        finally:
            self._waiting.pop(record.approval_id, None)
        if parking is not None:
            await parking.resumed(record)
        if self.notify is not None:
            self.notify("decided", record)
        return _outcome(record)

    async def _decide_by_rule(self, record: ApprovalRecord, rule: ApprovalRule) -> ApprovalRecord:
        reason = rule.reason or f"saved from {rule.approval_id or 'an earlier decision'}"
        return await self._settle(record, allowed=rule.decision == "allow", scope="once", reason=reason, by="rule")

    async def _expire(self, record: ApprovalRecord) -> ApprovalRecord:
        waited = record.expires_at - record.created_at
        reason = f"no decision within {waited:g} s (approval.timeout_secs), so the call was not made"
        return await self._settle(record, allowed=False, scope="once", reason=reason, by="timeout")

    async def _settle(
        self, record: ApprovalRecord, *, allowed: bool, scope: str, reason: str | None, by: str
    ) -> ApprovalRecord:
        stored, _ = await self._store.decide_approval(
            record.approval_id, allowed=allowed, scope=scope, reason=reason, decided_by=by, now=self._clock.now()
        )
        return stored or record

    # ------------------------------------------------------------------ answering

    async def decide(
        self, approval_id: str, *, allow: bool, scope: str = "once", reason: str | None = None
    ) -> ApprovalRecord:
        """A person's decision on a pending request; saved by ``scope`` unless ``once``.

        Raises NotFound for an unknown id and UsageError for a request already decided (or expired)."""
        if scope not in APPROVAL_SCOPES:
            raise UsageError(f"unknown scope '{scope}'", hint=f"use one of: {', '.join(APPROVAL_SCOPES)}")
        record = await self._store.get_approval(approval_id)
        if record is None:
            raise NotFound(f"no approval request '{approval_id}'", hint="list them with `axocoatl approvals list`")
        if record.status == "pending" and record.expires_at <= self._clock.now():
            record = await self._expire(record)
        else:
            stored, decided = await self._store.decide_approval(
                approval_id,
                allowed=allow,
                scope=scope,
                reason=reason,
                decided_by="user",
                now=self._clock.now(),
            )
            record = stored or record
            if decided:
                self._wake(approval_id, every=scope != "once")
                return record
        raise UsageError(
            f"approval request '{approval_id}' was already decided: {record.status} by {record.decided_by}"
            + (f" ({record.reason})" if record.reason else ""),
            hint="a decision is final; `axocoatl approvals list` shows the pending ones",
        )

    def _wake(self, approval_id: str, *, every: bool) -> None:
        # A decision saved by scope may answer other waiting requests of this process too.
        for waiting_id, event in self._waiting.items():
            if every or waiting_id == approval_id:
                event.set()

    async def list(self, *, status: str | None = None, run_id: str | None = None) -> list[ApprovalRecord]:
        """Requests, newest first; a pending one past its deadline is denied first (nobody else may be waiting)."""
        now = self._clock.now()
        records = await self._store.list_approvals(status=status, run_id=run_id)
        result = []
        for record in records:
            if record.status == "pending" and record.expires_at <= now and record.approval_id not in self._waiting:
                record = await self._expire(record)
                if status is not None and record.status != status:
                    continue
            result.append(record)
        return result


def _preview(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments as stored: whole when small, else a marked preview (the call itself keeps them all)."""
    text = json.dumps(dict(arguments), ensure_ascii=False, default=str)
    if len(text) <= PREVIEW_CHARS:
        return dict(arguments)
    return {"preview": text[:PREVIEW_CHARS] + "…(truncated)"}


def _outcome(record: ApprovalRecord) -> Decision:
    scope: ApprovalScope = record.scope or "once"
    return Decision(
        record.status == "allowed", record.reason, record.decided_by or "user", scope, approval_id=record.approval_id
    )
