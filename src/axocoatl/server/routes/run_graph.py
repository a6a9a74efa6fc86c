"""GET /api/runs/{id}/graph: a run's lattice as its plan froze it, for drawing (the dashboard's graph).

Each node says what activates it: the nodes whose completions (or emitted events) it listens to,
with each subscription's strength, and its threshold. The signal a node has gathered is then the
summed strengths of its producers that completed; it fires at the threshold (docs/lattice.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from axocoatl.coordination.lattice import COMPLETED_PREFIX, EVENT_PREFIX
from axocoatl.runtime.plans import RunPlan
from axocoatl.server.errors import responses
from axocoatl.server.routes.runs import find_run
from axocoatl.server.state import state_of

router = APIRouter(prefix="/api/runs", tags=["runs"])


def graph_json(plan: RunPlan) -> dict[str, Any]:
    emitters: dict[str, list[str]] = {}
    for node in plan.nodes:
        for emitted in node.emits:
            emitters.setdefault(emitted, []).append(node.agent_id)
    nodes = []
    for node in plan.nodes:
        inputs: list[dict[str, Any]] = []
        for sub in node.subscriptions:
            event: str | None
            if sub.key.startswith(COMPLETED_PREFIX):
                producers = [sub.key.removeprefix(COMPLETED_PREFIX)]
                event = None
            else:
                event = sub.key.removeprefix(EVENT_PREFIX)
                producers = emitters.get(event, [])
            for producer in producers:
                if producer != node.agent_id:
                    inputs.append({"from": producer, "strength": sub.strength, "event": event})
        kind = "agent"
        if node.agent_id in plan.routers:
            kind = "router"
        elif node.agent_id in plan.maps:
            kind = "map"
        elif node.agent_id in plan.subflows:
            kind = "workflow"
        nodes.append(
            {
                "id": node.agent_id,
                "kind": kind,
                "entry": node.agent_id in plan.entry,
                "inputs": inputs,
                "threshold": node.effective_threshold,
                "interrupt": plan.interrupts[node.agent_id].to_json() if node.agent_id in plan.interrupts else None,
            }
        )
    return {"workflow_id": plan.workflow_id, "kind": plan.kind, "nodes": nodes}


@router.get(
    "/{run_id}/graph",
    summary="A run's lattice as planned: its nodes, what activates each (producers, strengths) and thresholds",
    description="`{workflow_id, kind, nodes: [{id, kind: agent|router|map|workflow, entry, "
    "inputs: [{from, strength, event}], threshold, interrupt}]}`. A map's item steps (`agent[i]`) are not nodes.",
    responses=responses(404),
)
async def run_graph(run_id: str, request: Request) -> dict[str, Any]:
    run = await find_run(state_of(request), run_id)
    return graph_json(RunPlan.from_json(run.spec))
