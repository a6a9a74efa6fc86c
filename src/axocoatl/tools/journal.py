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

from axocoatl.core.ids import Clock
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
