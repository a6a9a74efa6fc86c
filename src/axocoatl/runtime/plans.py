"""Run plans: the frozen shape of one run (its lattice nodes), stored with the run.

A run is resumed from its stored plan, not from the current config, so editing
axocoatl.yaml never changes what a half-finished run means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from axocoatl.config.schema import AgentConfig, AxocoatlConfig, SkillConfig, WorkflowConfig
from axocoatl.coordination.lattice import NodeSpec, RunLattice, Subscription
from axocoatl.core.errors import UsageError

RunKind = Literal["workflow", "skill", "agent"]


@dataclass(frozen=True)
class RunPlan:
    kind: RunKind
    workflow_id: str
    nodes: tuple[NodeSpec, ...]
    entry: tuple[str, ...]
    timeout_secs: float
    initial_events: tuple[str, ...] = ()
    skill_prompts: dict[str, str] = field(default_factory=dict)  # agent -> prompt of the skill it reacts with
    # dependencies() index: a plan is immutable, and every activation asks.
    _dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def lattice(self) -> RunLattice:
        return RunLattice(self.nodes, self.entry)

    def dependencies(self, agent_id: str) -> list[str]:
        """Agents whose outputs ``agent_id`` receives as upstream context, in plan order."""
        if not self._dependencies:
            self._index_dependencies()
        return list(self._dependencies[agent_id])

    def _index_dependencies(self) -> None:
        """Every node's producers at once: one pass over the nodes, not one scan per activation."""
        emitters: dict[str, list[str]] = {}
        for n in self.nodes:
            for event in n.emits:
                emitters.setdefault(event, []).append(n.agent_id)
        for node in self.nodes:
            producers: list[str] = []
            for sub in node.subscriptions:
                if sub.key.startswith("completed:"):
                    producers.append(sub.key.removeprefix("completed:"))
                elif sub.key.startswith("event:"):
                    producers.extend(emitters.get(sub.key.removeprefix("event:"), ()))
            self._dependencies[node.agent_id] = tuple(dict.fromkeys(p for p in producers if p != node.agent_id))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "workflow_id": self.workflow_id,
            "entry": list(self.entry),
            "timeout_secs": self.timeout_secs,
            "initial_events": list(self.initial_events),
            "skill_prompts": self.skill_prompts,
            "nodes": [
                {
                    "agent_id": n.agent_id,
                    "subscriptions": [[s.key, s.strength] for s in n.subscriptions],
                    "threshold": n.threshold,
                    "decay": n.decay,
                    "emits": list(n.emits),
                }
                for n in self.nodes
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunPlan:
        nodes = tuple(
            NodeSpec(
                agent_id=n["agent_id"],
                subscriptions=tuple(Subscription(key, strength) for key, strength in n["subscriptions"]),
                threshold=n["threshold"],
                decay=n["decay"],
                emits=tuple(n["emits"]),
            )
            for n in data["nodes"]
        )
        return cls(
            kind=data["kind"],
            workflow_id=data["workflow_id"],
            nodes=nodes,
            entry=tuple(data["entry"]),
            timeout_secs=float(data["timeout_secs"]),
            initial_events=tuple(data.get("initial_events", ())),
            skill_prompts=dict(data.get("skill_prompts", {})),
        )


def plan_workflow(config: AxocoatlConfig, workflow: WorkflowConfig) -> RunPlan:
    members = list(dict.fromkeys(workflow.agents))
    if not members:
        raise UsageError(f"workflow '{workflow.id}' has no agents", hint=f"list agents under workflows[{workflow.id}]")
    agents = {a.id: a for a in config.agents}
    missing = [m for m in members if m not in agents]
    if missing:
        raise UsageError(
            f"workflow '{workflow.id}' lists unknown agent(s): {', '.join(missing)}",
            hint="run `axocoatl validate` to see every config problem",
        )
    held = held_skills(config, members)
    lattice = RunLattice.for_workflow(
        members,
        {m: agents[m].depends_on for m in members},
        workflow.entry_point,
        thresholds={m: agents[m].activation_threshold for m in members},
        decays={m: agents[m].activation_decay for m in members},
        emits={m: [e for s in held[m] for e in s.emits] for m in members},
        reacts_to={m: [e for s in held[m] for e in s.reacts_to] for m in members},
    )
    nodes = tuple(lattice.spec(a) for a in lattice.agent_ids)
    if not lattice.entry:
        raise UsageError(
            f"workflow '{workflow.id}' has no entry agent: every agent in it depends on another or waits for an event",
            hint="set entry_point, or remove a dependency (run `axocoatl validate`)",
        )
    # An agent woken by a skill event gets the prompt of the skill(s) it reacts with, as in a skill run.
    prompts = {
        m: "\n\n".join(s.prompt for s in held[m] if s.reacts_to and s.prompt)
        for m in members
        if m not in lattice.entry and any(s.reacts_to and s.prompt for s in held[m])
    }
    return RunPlan("workflow", workflow.id, nodes, lattice.entry, workflow.timeout_secs, skill_prompts=prompts)


def held_skills(config: AxocoatlConfig, agent_ids: list[str]) -> dict[str, list[SkillConfig]]:
    """The skills each agent holds, in config order."""
    held: dict[str, list[SkillConfig]] = {a: [] for a in agent_ids}
    for skill in config.skills:
        for agent_id in dict.fromkeys(skill.agents):
            if agent_id in held:
                held[agent_id].append(skill)
    return held


def plan_skill(config: AxocoatlConfig, skill: SkillConfig, *, timeout_secs: float = 1800.0) -> RunPlan:
    """The event-driven run that firing ``skill`` starts: every agent reachable via reacts_to."""
    nodes: dict[str, NodeSpec] = {}
    prompts: dict[str, str] = {}
    frontier = list(skill.emits)
    seen_events: set[str] = set()
    while frontier:
        event = frontier.pop(0)
        if event in seen_events:
            continue
        seen_events.add(event)
        for holder_skill in config.skills:
            if event not in holder_skill.reacts_to:
                continue
            for agent_id in holder_skill.agents:
                if agent_id in nodes or config.agent(agent_id) is None:
                    continue
                agent = config.agent(agent_id)
                assert agent is not None
                nodes[agent_id] = NodeSpec(
                    agent_id=agent_id,
                    subscriptions=tuple(Subscription(f"event:{e}") for e in holder_skill.reacts_to),
                    threshold=agent.activation_threshold or 0.5,
                    decay=agent.activation_decay or 0.0,
                    emits=tuple(holder_skill.emits),
                )
                prompts[agent_id] = holder_skill.prompt
                frontier.extend(holder_skill.emits)
    if not nodes:
        raise UsageError(
            f"skill '{skill.id}' emits {list(skill.emits) or 'no events'} but no agent holds a skill reacting to them",
            hint="add the event to another skill's reacts_to and list agents under that skill",
        )
    return RunPlan(
        "skill",
        f"skill:{skill.id}",
        tuple(nodes.values()),
        (),
        timeout_secs,
        initial_events=tuple(skill.emits),
        skill_prompts=prompts,
    )


def plan_agent(agent: AgentConfig) -> RunPlan:
    """A one-step run of one agent (a schedule's or a trigger's ``agent:``), named ``agent:<id>``."""
    node = NodeSpec(agent_id=agent.id)
    return RunPlan("agent", f"agent:{agent.id}", (node,), (agent.id,), agent.timeout_secs)
