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


class ForkRequest(Strict):
    from_step: str = Field(..., min_length=1, max_length=200, description="The step to run again.")
    input: Text | None = Field(None, description="A new input for the steps that run again (default: the run's).")


class AnswerRequest(Strict):
    answer: Text = Field(..., description="The human's answer.")
    step: str | None = Field(
        None, min_length=1, max_length=200, description="The waiting step (needed when several wait)."
    )


class Checkpoint(BaseModel):
    seq: int
    step: str
    agent_id: str
    item: int | None
    status: Literal["completed", "failed"]
    output: str | None
    error: str | None
    finished_at: str | None
    reused_from: str | None
    fork_reuses: list[str] | None = Field(description="The steps a fork from this one keeps (null: a map item)")


class RunHistory(BaseModel):
    run_id: str
    parent_run_id: str | None
    checkpoints: list[Checkpoint]


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
    status: Literal["pending", "running", "awaiting_approval", "completed", "failed", "skipped", "waiting", "cancelled"]
    attempts: int
    started_at: str | None
    finished_at: str | None
    input: str | None
    output: str | None
    error: str | None
    tokens: StepTokens
    item: int | None = Field(None, description="A map item's index (the step is named agent[index])")
    question: str | None = Field(None, description="What a step waiting for a human asks")
    answer: str | None = Field(None, description="The human's answer, once given")
    wait_until: str | None = Field(None, description="When an unanswered question times out")
    reused_from: str | None = Field(None, description="A fork's step copied from this run (no LLM call)")


class RunInfo(BaseModel):
    """Exactly ``RunRecord.to_json()``: the JSON of `axocoatl runs show --json`."""

    run_id: str
    workflow_id: str
    status: Literal["running", "completed", "failed", "interrupted", "waiting", "cancelled"]
    trigger: str = Field(description="What started it: manual, schedule:ID, proactive:ID, webhook:NAME")
    input: str
    final_output: str | None
    error: str | None
    started_at: str | None
    finished_at: str | None
    parent_run_id: str | None = Field(None, description="The run this one was forked from, or whose step started it")
    parent_step: str | None = Field(None, description="The parent's step it was forked from, or that started it")
    relation: Literal["fork", "child"] | None = None
    steps: list[StepInfo]
    plan: dict[str, Any] | None = Field(
        None, description="A coordinator run only: its subtasks, bid rounds and attempts (docs/coordinator.md)"
    )


class RunSummary(BaseModel):
    run_id: str
    workflow_id: str
    status: Literal["running", "completed", "failed", "interrupted", "waiting", "cancelled"]
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
    transport: Literal["stdio", "streamable_http", "http", "sse"]
    target: str = Field(description="The command line (stdio) or the URL")
    status: Literal["starting", "connected", "reconnecting", "failed", "stopped"]
    tool_count: int
    resource_count: int
    prompt_count: int
    last_error: str | None = Field(description="Why the last attempt failed or the connection ended")
    restarts: int = Field(description="Attempts since the first one (restarts after a failure or a loss)")
    protocol_version: str | None = Field(description="The MCP revision negotiated")
    server_name: str | None = Field(description="The name the server gave itself")


class MCPToolInfo(BaseModel):
    name: str = Field(description="What agents call it: mcp__{server}__{tool}")
    server: str
    tool: str = Field(description="Its name on the server")
    description: str
    effect: Literal["read", "external"] = Field(description="read: the server marks it readOnlyHint")
    input_schema: dict[str, Any]


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


# ----------------------------------------------------------------------------------- approvals


class ApprovalDecisionRequest(Strict):
    decision: Literal["allow", "deny"] = Field(..., description="allow: the call runs; deny: the model gets an error.")
    scope: Literal["once", "agent_tool", "agent_source", "source"] = Field(
        "once",
        description="Also decide later identical calls: agent_tool (this agent, this tool), agent_source (this "
        "agent, every tool of the source), source (every agent, every tool of the source); once: only this call.",
    )
    reason: Text | None = Field(None, max_length=2000, description="Shown to the model when denied.")


class ApprovalInfo(BaseModel):
    approval_id: str
    status: Literal["pending", "allowed", "denied"]
    kind: str
    agent_id: str
    source: str
    tool: str
    arguments: dict[str, Any]
    message: str
    run_id: str | None
    thread: str | None
    created_at: str | None
    expires_at: str | None
    scope: str | None
    reason: str | None
    decided_by: str | None = Field(description="user, rule (a decision saved by scope) or timeout")
    decided_at: str | None


class DeliveryInfo(BaseModel):
    id: str = Field(description="The delivery id (the x-axocoatl-delivery header)")
    webhook: str
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"] = Field(description="failed: a dead letter (redeliver it)")
    attempts: int
    next_attempt_at: str | None = Field(description="When a pending delivery is attempted next")
    last_status: int | None = Field(description="The HTTP status of the last attempt")
    last_error: str | None
    created_at: str | None
    finished_at: str | None
