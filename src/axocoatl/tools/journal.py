"""The tool-call journal: each call of a workflow step recorded before it runs and after it returned.

Rows belong to one execution of a step (``activation``) and stay open until the step's
outcome commits (the same transaction closes them). After a crash the resumed step finds
its open rows and replays them instead of acting again:

- the model's reply of a round that asked for tools is recorded, so the resumed turn follows
  the same path (no new model call, and the same calls in the same order);
- a call recorded as done returns its recorded result;
- a call recorded as started but not done was in flight: a ``read`` call (or a transactional
  one, whose writes never committed) runs again; any other gets the error
  "interrupted: unknown outcome" (it may or may not have happened).

A ``read`` call's rows are written without waiting for an fsync (losing one only means the
call runs again); a ``write`` or ``external`` call's start is durable before the call runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from axocoatl.core.ids import Clock, iso
from axocoatl.core.messages import ToolCall, ToolCallRecord
from axocoatl.store import JournalRecord, Store, WriteBatch

INTERRUPTED = "interrupted: unknown outcome"
MODEL_REPLY = -1  # idx of a round's model reply


class ToolJournal:
    """The journal of one execution of one workflow step."""

    def __init__(
        self, store: Store, clock: Clock, run_id: str, agent_id: str, activation: int, rows: Sequence[JournalRecord]
    ) -> None:
        self._store = store
        self._clock = clock
        self.run_id = run_id
        self.agent_id = agent_id
        self.activation = activation
        self._rows = {(r.round, r.idx): r for r in rows}
        self.resumed = bool(rows)

    @classmethod
    async def open(cls, store: Store, clock: Clock, run_id: str, agent_id: str) -> ToolJournal:
        activation, rows = await store.load_journal(run_id, agent_id)
        return cls(store, clock, run_id, agent_id, activation, rows)

    # ------------------------------------------------------------------ model replies

    def reply(self, round_no: int) -> tuple[str, tuple[ToolCall, ...]] | None:
        """The recorded model reply of a round (its text and tool calls), if a crash interrupted the step after it."""
        row = self._rows.get((round_no, MODEL_REPLY))
        if row is None or row.result is None:
            return None
        data = json.loads(row.result)
        return str(data.get("content") or ""), tuple(ToolCall.from_dict(c) for c in data.get("tool_calls") or ())

    async def record_reply(self, round_no: int, content: str, calls: Sequence[ToolCall]) -> None:
        reply = json.dumps({"content": content, "tool_calls": [c.to_dict() for c in calls]}, ensure_ascii=False)
        row = self._row(round_no, MODEL_REPLY, ToolCall("", "", {}), "read", "model")
        row.result = reply
        # Durable with the first non-read call's start (WAL: a later fsync covers the earlier commits).
        await self._save(row, durable=False)

    # ------------------------------------------------------------------ calls

    def entry(self, round_no: int, index: int) -> JournalRecord | None:
        return self._rows.get((round_no, index))

    async def started(self, round_no: int, index: int, call: ToolCall, effect: str) -> None:
        await self._save(self._row(round_no, index, call, effect, "started"), durable=effect != "read")

    async def finished(self, round_no: int, index: int, record: ToolCallRecord, effect: str, status: str) -> None:
        row = self._rows.get((round_no, index)) or self._row(round_no, index, record_call(record), effect, status)
        row.status, row.result, row.is_error = status, record.result, record.is_error
        row.finished_at = self._clock.now()
        await self._save(row, durable=effect != "read")

    def close(self) -> WriteBatch:
        """Closes the execution's rows; joins the step's outcome batch."""
        return WriteBatch(journal_closes=[(self.run_id, self.agent_id, self.activation)])

    def _row(self, round_no: int, index: int, call: ToolCall, effect: str, status: str) -> JournalRecord:
        row = JournalRecord(
            run_id=self.run_id,
            agent_id=self.agent_id,
            activation=self.activation,
            round=round_no,
            idx=index,
            call_id=call.id,
            name=call.name,
            arguments=call.arguments,
            effect=effect,
            status=status,
            started_at=self._clock.now(),
        )
        self._rows[(round_no, index)] = row
        return row

    async def _save(self, row: JournalRecord, *, durable: bool) -> None:
        await self._store.write(WriteBatch(journal=[row]), durable=durable)


def record_call(record: ToolCallRecord) -> ToolCall:
    return ToolCall(record.id, record.name, record.arguments)


async def run_tool_calls(store: Store, run_id: str) -> list[dict[str, Any]]:
    """A run's tool calls as shown by `runs show` and GET /api/runs/{id}/tool-calls: every journaled call
    (status started, done or interrupted), then each call waiting for approval (status awaiting_approval)."""
    calls: list[dict[str, Any]] = [
        {
            "agent_id": row.agent_id,
            "execution": row.activation,
            "round": row.round,
            "index": row.idx,
            "call_id": row.call_id,
            "name": row.name,
            "arguments": row.arguments,
            "effect": row.effect,
            "status": row.status,
            "is_error": row.is_error,
            "result": row.result,
            "started_at": iso(row.started_at),
            "finished_at": iso(row.finished_at),
            "approval_id": None,
        }
        for row in await store.run_tool_calls(run_id)
    ]
    for request in await store.list_approvals(status="pending", run_id=run_id):
        execution, round_no, index = _position(request.key)
        calls.append(
            {
                "agent_id": request.agent_id,
                "execution": execution,
                "round": round_no,
                "index": index,
                "call_id": None,
                "name": request.tool,
                "arguments": request.arguments,
                "effect": None,
                "status": "awaiting_approval",
                "is_error": False,
                "result": None,
                "started_at": iso(request.created_at),
                "finished_at": None,
                "approval_id": request.approval_id,
            }
        )
    return calls


def _position(key: str | None) -> tuple[int | None, int | None, int | None]:
    """(execution, round, index) from an approval key made by the pipeline (RUN:AGENT:EXECUTION:ROUND:INDEX)."""
    parts = (key or "").rsplit(":", 3)
    try:
        return int(parts[1]), int(parts[2]), int(parts[3])
    except (IndexError, ValueError):
        return None, None, None
