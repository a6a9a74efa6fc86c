"""JSON shapes shared by the REST routes, the WebSocket snapshot and the CLI (one place, one contract)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from axocoatl.agents.actor import Agent
from axocoatl.config.schema import AgentConfig, WorkflowConfig
from axocoatl.core.ids import iso
from axocoatl.memory.consolidation import ConsolidationResult
from axocoatl.runtime.supervision import Supervisor
from axocoatl.store import RunRecord


def agent_json(config: AgentConfig, agent: Agent | None) -> dict[str, Any]:
    """One entry of GET /api/agents."""
    budget = config.token_budget
    return {
        "id": config.id,
        "name": config.display_name,
        "provider": config.provider,
        "model": config.model,
        "role": config.role,
        "depends_on": list(config.depends_on),
        "tools": config.tool_names,
        "system_prompt": config.system_prompt,
        "token_budget": budget.model_dump() if budget else None,
        "status": agent.statistics().status if agent else "stopped",
    }


def agent_status_json(agent: Agent, supervisor: Supervisor | None) -> dict[str, Any]:
    """GET /api/agents/{id}/status, the snapshot's agents and ``agent-status`` frames."""
    stats = agent.statistics()
    body: dict[str, Any] = {
        "agent_id": stats.agent_id,
        "status": stats.status,
        "last_error": stats.last_error,
        "turns": stats.turns,
        "queued": stats.queued,
        "usage": {**stats.usage.to_dict(), "total": stats.usage.total},
        "last_active": iso(stats.last_active),
        "provider": agent.config.provider,
        "model": agent.config.model,
    }
    if supervisor is not None:
        body["supervision"] = supervisor.state(stats.agent_id).to_json()
    return body


def workflow_json(workflow: WorkflowConfig) -> dict[str, Any]:
    return {
        "id": workflow.id,
        "name": workflow.display_name,
        "description": workflow.description,
        "agents": list(workflow.agents),
        "entry_point": workflow.entry_point,
        "timeout_secs": workflow.timeout_secs,
    }


def run_summary_json(run: RunRecord) -> dict[str, Any]:
    """A run without its steps' texts, for lists (like `axocoatl runs list --json`)."""
    data = {key: value for key, value in run.to_json().items() if key != "steps"}
    data["steps_completed"] = sum(1 for s in run.steps if s.status == "completed")
    data["steps_total"] = len(run.steps)
    return data


def threads_json(agent_id: str, threads: list[tuple[str, int, float | None]]) -> dict[str, Any]:
    """GET /api/agents/{id}/threads and `axocoatl agents threads ID --json` (from Store.list_threads)."""
    return {
        "agent_id": agent_id,
        "threads": [{"thread": name, "messages": count, "last_active": iso(ts)} for name, count, ts in threads],
    }


def consolidation_json(results: Mapping[str, ConsolidationResult]) -> dict[str, Any]:
    """POST /api/memory/consolidate and `axocoatl memory consolidate --json`: one entry per agent, in order."""
    agents = []
    for agent_id, result in results.items():
        body = result.to_json()
        body["usage"] = {**result.usage.to_dict(), "total": result.usage.total}
        agents.append({"agent_id": agent_id, **body})
    return {"agents": agents, "failed": sum(1 for r in results.values() if r.status == "failed")}
