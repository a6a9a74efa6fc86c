"""The run JSON contract (``RunRecord.to_json()``), the same through the CLI, the HTTP API and the Python API."""

from __future__ import annotations

import re
from typing import Any

RUN_KEYS = {
    "run_id",
    "workflow_id",
    "status",
    "trigger",
    "input",
    "final_output",
    "error",
    "started_at",
    "finished_at",
    "parent_run_id",
    "parent_step",
    "relation",
    "steps",
}
STEP_KEYS = {
    "agent_id",
    "status",
    "attempts",
    "started_at",
    "finished_at",
    "input",
    "output",
    "error",
    "tokens",
    "item",
    "question",
    "answer",
    "wait_until",
    "reused_from",
}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def check_run_contract(data: dict[str, Any]) -> None:
    assert set(data) == RUN_KEYS
    assert data["status"] in ("completed", "failed", "running", "interrupted", "waiting")
    assert isinstance(data["run_id"], str) and data["run_id"].startswith("run-")
    assert isinstance(data["input"], str)
    assert data["final_output"] is None or isinstance(data["final_output"], str)
    assert ISO.match(data["started_at"])
    assert data["finished_at"] is None or ISO.match(data["finished_at"])
    for step in data["steps"]:
        assert set(step) == STEP_KEYS
        assert step["status"] in ("pending", "running", "completed", "failed", "skipped", "waiting")
        assert isinstance(step["attempts"], int) and not isinstance(step["attempts"], bool)
        assert set(step["tokens"]) == {"input", "output"}
        assert all(isinstance(v, int) for v in step["tokens"].values())
        for key in ("started_at", "finished_at"):
            assert step[key] is None or ISO.match(step[key])
        for key in ("input", "output", "error"):
            assert step[key] is None or isinstance(step[key], str)
