"""Request and response bodies of the HTTP API (they make /openapi.json precise)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from axocoatl.core.ids import THREAD_PATTERN
from axocoatl.server.text import Text


class Strict(BaseModel):
    # Every string field of a request is ``Text``: valid Unicode, or a 422 naming the field.
    model_config = ConfigDict(extra="forbid")


# ----------------------------------------------------------------------------------- requests


class ExecuteRequest(Strict):
    # No maxLength on texts: server.max_body_bytes bounds the whole body (413).
    input: Text = Field(..., description="The message for the agent.")
    system_override: Text | None = Field(None, description="Replace the system prompt (implies stateless).")
    model_override: Text | None = Field(
        None, min_length=1, max_length=200, description="Use this model for this call (implies stateless)."
    )
    stateless: StrictBool = Field(False, description="No conversation: do not read or write a thread.")
    thread: str | None = Field(
        None,
        pattern=THREAD_PATTERN,
        description='The conversation thread (default "main"); each thread is its own session. '
        "A stateless call has none.",
    )


class WorkflowExecuteRequest(Strict):
    input: Text = Field(..., description="The task given to the entry agents.")
    workspace: str | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description="An existing directory on the daemon's machine the run's agents work in "
        "(default: the workflow's workspace, else a fresh one under the data dir).",
    )


class SkillFireRequest(Strict):
    input: str = Field("", description="Text given to the agents that react.")


# ---------------------------------------------------------------------------------- responses


class Health(BaseModel):
    status: Literal["healthy", "draining"]
    agents: int
    version: str


class Usage(BaseModel):
    input: int
    output: int
    total: int


class SupervisionInfo(BaseModel):
    restarts: int
    consecutive: int
    last_reason: str | None
    last_crash_at: str | None
    last_restart_at: str | None
    next_restart_at: str | None
    gave_up: bool


class AgentInfo(BaseModel):
    id: str
    name: str
    provider: str
    model: str | None
    role: str
    depends_on: list[str]
    tools: list[str]
    system_prompt: str | None
    token_budget: dict[str, Any] | None
    status: str


class AgentStatus(BaseModel):
    agent_id: str
    status: Literal["idle", "running", "failed", "stopped"]
    last_error: str | None
    turns: int
    queued: int
    usage: Usage
    last_active: str | None
    provider: str
    model: str | None
    supervision: SupervisionInfo | None = None


class ToolCallInfo(BaseModel):
    id: str
    name: str
    arguments: dict[str, Any]
    result: str
    is_error: bool


class ExecuteResponse(BaseModel):
    agent_id: str
    output: str
    usage: Usage
    tool_calls: list[ToolCallInfo]
    llm_calls: int
    stateless: bool
    thread: str | None = Field(description="The thread the turn was appended to; null when stateless.")


class RestartResponse(BaseModel):
    agent_id: str
    restarted: bool
    status: str


class ResetResponse(BaseModel):
    agent_id: str
    thread: str
    reset: bool


class ThreadInfo(BaseModel):
    thread: str
    messages: int = Field(description="Messages since the thread's last reset.")
    last_active: str | None = Field(description="When its last message was written (ISO-8601 UTC).")


class ThreadList(BaseModel):
    agent_id: str
    threads: list[ThreadInfo]


class ConsolidationInfo(BaseModel):
    agent_id: str
    status: Literal["done", "skipped", "failed"]
    reason: str
    promoted: int
    rewritten: int
    rejected: list[str]
    usage: Usage


class ConsolidationReport(BaseModel):
    agents: list[ConsolidationInfo]
    failed: int = Field(description="How many agents' passes failed.")


class WorkflowInfo(BaseModel):
    id: str
    name: str
    description: str | None
    agents: list[str]
    entry_point: str | None
    timeout_secs: float


class StepTokens(BaseModel):
    input: int
    output: int


class StepInfo(BaseModel):
    agent_id: str
    status: Literal["pending", "running", "completed", "failed", "skipped"]
    attempts: int
    started_at: str | None
    finished_at: str | None
    input: str | None
    output: str | None
    error: str | None
    tokens: StepTokens


class RunInfo(BaseModel):
    """Exactly ``RunRecord.to_json()``: the JSON of `axocoatl runs show --json`."""

    run_id: str
    workflow_id: str
    status: Literal["running", "completed", "failed", "interrupted"]
    trigger: str = Field(description="What started it: manual, schedule:ID, proactive:ID, webhook:NAME")
    input: str
    final_output: str | None
    error: str | None
    started_at: str | None
    finished_at: str | None
    steps: list[StepInfo]


class RunSummary(BaseModel):
    run_id: str
    workflow_id: str
    status: Literal["running", "completed", "failed", "interrupted"]
    trigger: str = Field(description="What started it: manual, schedule:ID, proactive:ID, webhook:NAME")
    input: str
    final_output: str | None
    error: str | None
    started_at: str | None
    finished_at: str | None
    steps_completed: int
    steps_total: int


class RunStarted(BaseModel):
    run_id: str
    workflow_id: str
    status: Literal["running"]


class SkillInfo(BaseModel):
    id: str
    name: str | None
    description: str
    emits: list[str]
    reacts_to: list[str]
    agents: list[str]
    prompt: str


class TokenRow(BaseModel):
    agent_id: str
    input: int
    output: int
    total: int
    calls: int


class TokenTotals(BaseModel):
    input: int
    output: int
    total: int
    calls: int


class TokenReport(BaseModel):
    since: str | None
    agent: str | None
    agents: list[TokenRow]
    totals: TokenTotals


class EventInfo(BaseModel):
    id: str
    type: str
    produced_by: str
    run_id: str | None
    agent_id: str | None
    timestamp: str | None
    payload: dict[str, Any]


class MCPServerInfo(BaseModel):
    name: str
    transport: str
    tool_count: int


class MCPToolInfo(BaseModel):
    name: str
    server: str
    description: str


class ScheduleFireInfo(BaseModel):
    schedule_id: str
    slot: str | None = Field(description="The slot fired (null for `schedules run`)")
    outcome: Literal["started", "manual", "skipped", "missed", "failed"]
    run_id: str | None
    detail: str | None
    at: str | None


class ScheduleInfo(BaseModel):
    id: str
    name: str
    workflow: str | None
    agent: str | None
    every: str | None
    cron: str | None
    timezone: str
    status: Literal["active", "paused", "disabled", "not started"]
    next_fire: str | None
    run_count: int
    last_fire: ScheduleFireInfo | None
    last_outcome: str | None = Field(description="The last fire's run status, or why it did not run")
