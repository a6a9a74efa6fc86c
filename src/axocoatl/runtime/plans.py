"""Run plans: the frozen shape of one run (its lattice nodes), stored with the run.

A run is resumed from its stored plan, not from the current config, so editing
axocoatl.yaml never changes what a half-finished run means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from axocoatl.config.htn_methods import Method, parse_methods
from axocoatl.config.schema import AgentConfig, AxocoatlConfig, ConditionConfig, SkillConfig, WorkflowConfig
from axocoatl.coordination.conditions import Condition
from axocoatl.coordination.lattice import NodeSpec, RunLattice, Subscription
from axocoatl.core.errors import UsageError

RunKind = Literal["workflow", "skill", "agent"]


@dataclass(frozen=True)
class InterruptSpec:
    """Where a run waits for a human at one agent, and what happens when nobody answers in time."""

    when: Literal["before", "after"]
    question: str
    timeout_secs: float | None = None
    on_timeout: Literal["fail", "answer"] = "fail"
    default_answer: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "when": self.when,
            "question": self.question,
            "timeout_secs": self.timeout_secs,
            "on_timeout": self.on_timeout,
            "default_answer": self.default_answer,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InterruptSpec:
        return cls(
            data["when"],
            data["question"],
            data.get("timeout_secs"),
            data.get("on_timeout", "fail"),
            data.get("default_answer"),
        )


def default_question(agent_id: str, when: str) -> str:
    if when == "before":
        return f"'{agent_id}' is about to run with the input above. Reply to let it go on (added to its input)."
    return f"'{agent_id}' answered (above). Reply to pass it on; your reply is added to what the next agents receive."


@dataclass(frozen=True)
class MapSpec:
    """A map agent: one step per item of ``over``'s output, at most ``max_parallel`` at once."""

    over: str
    name: str = "item"
    max_parallel: int = 4

    def to_json(self) -> dict[str, Any]:
        return {"over": self.over, "as": self.name, "max_parallel": self.max_parallel}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MapSpec:
        return cls(data["over"], data.get("as", "item"), int(data.get("max_parallel", 4)))


@dataclass(frozen=True)
class CoordinatorSpec:
    """A coordinator workflow's pass, frozen with the run (its methods too: editing the file never
    changes a half-finished run)."""

    agent_id: str
    workers: tuple[str, ...]  # the pool, in config order (ties of the auction go to the first)
    methods: tuple[Method, ...] | None  # None: no htn_methods_file, the LLM decomposes the goal
    methods_file: str | None = None
    goal_task: str | None = None
    planner_state: dict[str, Any] = field(default_factory=dict)
    max_parallel: int = 4
    retries: int = 1
    decomposition_rounds: int = 4
    max_depth: int = 16

    def to_json(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "workers": list(self.workers),
            "methods": None if self.methods is None else [m.to_json() for m in self.methods],
            "methods_file": self.methods_file,
            "goal_task": self.goal_task,
            "planner_state": self.planner_state,
            "max_parallel": self.max_parallel,
            "retries": self.retries,
            "decomposition_rounds": self.decomposition_rounds,
            "max_depth": self.max_depth,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CoordinatorSpec:
        methods = data.get("methods")
        return cls(
            agent_id=data["agent_id"],
            workers=tuple(data["workers"]),
            methods=None if methods is None else tuple(Method.from_json(m) for m in methods),
            methods_file=data.get("methods_file"),
            goal_task=data.get("goal_task"),
            planner_state=dict(data.get("planner_state") or {}),
            max_parallel=int(data.get("max_parallel", 4)),
            retries=int(data.get("retries", 1)),
            decomposition_rounds=int(data.get("decomposition_rounds", 4)),
            max_depth=int(data.get("max_depth", 16)),
        )


@dataclass(frozen=True)
class RunPlan:
    kind: RunKind
    workflow_id: str
    nodes: tuple[NodeSpec, ...]
    entry: tuple[str, ...]
    timeout_secs: float
    initial_events: tuple[str, ...] = ()
    skill_prompts: dict[str, str] = field(default_factory=dict)  # agent -> prompt of the skill it reacts with
    routers: dict[str, tuple[str, ...]] = field(default_factory=dict)  # router agent -> its branches
    maps: dict[str, MapSpec] = field(default_factory=dict)  # map agent -> what it runs over
    interrupts: dict[str, InterruptSpec] = field(default_factory=dict)  # agent -> where it waits for a human
    subflows: dict[str, str] = field(default_factory=dict)  # sub-workflow step -> the workflow it runs
    coordinator: CoordinatorSpec | None = None  # a coordinator workflow: its entry agent plans and delegates
    # dependencies() index: a plan is immutable, and every activation asks.
    _dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def lattice(self) -> RunLattice:
        return RunLattice(self.nodes, self.entry)

    def dependencies(self, agent_id: str) -> list[str]:
        """Agents whose outputs ``agent_id`` receives as upstream context, in plan order."""
        if not self._dependencies:
            self._index_dependencies()
        return list(self._dependencies[agent_id])

    def downstream(self, agent_id: str) -> set[str]:
        """``agent_id`` and every node that depends on it, transitively (what a fork from it runs again)."""
        if not self._dependencies:
            self._index_dependencies()
        found = {agent_id}
        frontier = [agent_id]
        while frontier:
            producer = frontier.pop()
            for node, producers in self._dependencies.items():
                if producer in producers and node not in found:
                    found.add(node)
                    frontier.append(node)
        return found

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
            "routers": {agent: list(branches) for agent, branches in self.routers.items()},
            "maps": {agent: spec.to_json() for agent, spec in self.maps.items()},
            "interrupts": {agent: spec.to_json() for agent, spec in self.interrupts.items()},
            "subflows": dict(self.subflows),
            **({"coordinator": self.coordinator.to_json()} if self.coordinator is not None else {}),
            "nodes": [
                {
                    "agent_id": n.agent_id,
                    "subscriptions": [_subscription_json(s) for s in n.subscriptions],
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
                subscriptions=tuple(_subscription(entry) for entry in n["subscriptions"]),
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
            routers={agent: tuple(branches) for agent, branches in data.get("routers", {}).items()},
            maps={agent: MapSpec.from_json(spec) for agent, spec in data.get("maps", {}).items()},
            interrupts={agent: InterruptSpec.from_json(spec) for agent, spec in data.get("interrupts", {}).items()},
            subflows=dict(data.get("subflows", {})),
            coordinator=CoordinatorSpec.from_json(data["coordinator"]) if data.get("coordinator") else None,
        )


def _subscription_json(sub: Subscription) -> list[Any]:
    entry: list[Any] = [sub.key, sub.strength]
    if sub.condition is not None:
        entry.append(sub.condition.to_json())
    return entry


def _subscription(entry: list[Any]) -> Subscription:
    condition = Condition.from_json(entry[2]) if len(entry) > 2 and entry[2] is not None else None
    return Subscription(entry[0], entry[1], condition)


def edge_condition(config: ConditionConfig, upstream: AgentConfig | None) -> Condition:
    """The lattice condition of a ``when:`` entry (validated config: exactly one test)."""
    if config.path is not None:
        op = config.path_op
        return Condition("path", getattr(config, op), path=config.path, op=op)  # type: ignore[arg-type]
    for kind in ("contains", "equals", "matches"):
        value = getattr(config, kind)
        if value is not None:
            return Condition(kind, value)
    return Condition("branch", config.branch, branches=tuple(upstream.branches if upstream else ()))


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
    coordinator = plan_coordinator(workflow, [agents[m] for m in members])
    if coordinator is not None:
        # The workers run when the coordinator hands them a subtask, not as steps of the lattice.
        members = [m for m in members if m not in coordinator.workers]
    held = held_skills(config, members)
    lattice = RunLattice.for_workflow(
        members,
        {m: agents[m].depends_on for m in members},
        workflow.entry_point,
        thresholds={m: agents[m].activation_threshold for m in members},
        decays={m: agents[m].activation_decay for m in members},
        emits={m: [e for s in held[m] for e in s.emits] for m in members},
        reacts_to={m: [e for s in held[m] for e in s.reacts_to] for m in members},
        conditions={m: {dep: edge_condition(c, agents.get(dep)) for dep, c in agents[m].when.items()} for m in members},
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
    routers = {m: tuple(agents[m].branches) for m in members if agents[m].branches}
    maps = {}
    for m in members:
        mapping = agents[m].map
        if mapping is not None:
            maps[m] = MapSpec(mapping.over, mapping.as_, mapping.max_parallel)
    interrupts = {}
    for m in members:
        interrupt = agents[m].interrupt
        if interrupt is not None:
            question = interrupt.question or default_question(m, interrupt.when)
            interrupts[m] = InterruptSpec(
                interrupt.when, question, interrupt.timeout_secs, interrupt.on_timeout, interrupt.default_answer
            )
    return RunPlan(
        "workflow",
        workflow.id,
        nodes,
        lattice.entry,
        workflow.timeout_secs,
        skill_prompts=prompts,
        routers=routers,
        maps=maps,
        interrupts=interrupts,
        subflows={m: child for m in members if (child := agents[m].workflow) is not None},
        coordinator=coordinator,
    )


def plan_coordinator(workflow: WorkflowConfig, members: list[AgentConfig]) -> CoordinatorSpec | None:
    """The coordinator pass of a workflow whose agents include a ``role: coordinator`` (else None).

    Reads the HTN methods file (validated by `axocoatl validate`; a broken one fails the run start)."""
    coordinator = next((a for a in members if a.role == "coordinator"), None)
    if coordinator is None:
        return None
    methods: tuple[Method, ...] | None = None
    if workflow.htn_methods_file:
        path = workflow.htn_methods_file
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"workflow '{workflow.id}': cannot read the HTN methods file {path}: {exc}",
                hint="fix workflows[].htn_methods_file (run `axocoatl validate`)",
            ) from None
        methods = tuple(parse_methods(text, path))
    return CoordinatorSpec(
        agent_id=coordinator.id,
        workers=tuple(a.id for a in members if a.role == "worker"),
        methods=methods,
        methods_file=workflow.htn_methods_file,
        goal_task=workflow.goal_task,
        planner_state=dict(workflow.planner_state),
        max_parallel=workflow.max_parallel,
        retries=workflow.retries,
        decomposition_rounds=workflow.decomposition_rounds,
        max_depth=workflow.max_depth,
    )


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
