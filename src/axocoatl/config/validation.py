"""Semantic checks of a schema-valid config: references, cycles, reachability, tools, providers, triggers,
and the keys that have no effect in this version."""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import ValidationError

from axocoatl.config.exposure import exposed_targets, unknown_refs
from axocoatl.config.htn_methods import parse_methods
from axocoatl.config.schema import AgentConfig, AxocoatlConfig, MockOptions, ProactiveConfig, WorkflowConfig
from axocoatl.config.schema_issues import schema_issues
from axocoatl.config.source import ConfigSource
from axocoatl.core.errors import ConfigError, ConfigIssue
from axocoatl.core.graph import find_cycle
from axocoatl.core.jsonpath import PathError, parse_path
from axocoatl.core.suggest import closest, did_you_mean
from axocoatl.core.tool_names import (
    BUILTIN_TOOLS,
    CORE_MEMORY_TOOLS,
    MCP_TOOLS,
    MEMORY_TOOLS,
    RETIRED_TOOLS,
    mcp_tool_server,
)

__all__ = ["KNOWN_PROVIDERS", "validate_config"]

KNOWN_PROVIDERS = ("local", "mock", "ollama", "openai", "openrouter", "mistral", "anthropic", "gemini", "a2a")
# Each completed dependency deposits this much signal (see the event lattice in DESIGN.md).
DEPOSIT = 0.5
_EPSILON = 1e-9
_SHELL_TOOLS = ("bash", "bash_background")  # the tools the sandbox contains
# What a sub-workflow step (agents[].workflow) never reads: its child run's own agents make every call.
SUBFLOW_INERT_KEYS = (
    "provider",
    "model",
    "system_prompt",
    "tools",
    "workspace",
    "token_budget",
    "memory",
    "sampling",
    "timeout_secs",
    "thread",
    "max_concurrency",
    "options",
    "sandbox",
)
# The tool sources approval.sources may name (tools/registry.py: Tool.source).
APPROVAL_SOURCES = ("builtin", "python", "memory")
_INTERVAL = re.compile(r"^\s*(\d+)\s*[smhd]\s*$")
# Top-level sections the schema accepts for features this version does not have yet.
_INERT_SECTIONS: dict[str, str] = {}


# Workflow keys only a coordinator workflow reads.
_COORDINATOR_KEYS = (
    "htn_methods_file",
    "goal_task",
    "planner_state",
    "max_parallel",
    "retries",
    "decomposition_rounds",
    "max_depth",
)


def _is_tool(value: object) -> bool:
    return isinstance(getattr(getattr(value, "__axocoatl_tool__", None), "name", None), str)


def _tool_hint(name: str, known: Sequence[str], *, known_list: bool = False) -> str:
    """How to fix a tool name this version does not have: its successor when it was retired, else the closest."""
    retired = RETIRED_TOOLS.get(name)
    if retired is not None:
        successor, how = retired
        return f"'{name}' was folded into '{successor}' ({how}): name '{successor}' instead"
    return did_you_mean(name, known, noun="tool", known=known_list)


def _seconds(duration: str) -> int:
    match = _INTERVAL.match(duration)
    if match is None:
        return 0
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[duration.strip()[-1]]


def validate_config(config: AxocoatlConfig, source: ConfigSource | None = None) -> list[ConfigIssue]:
    """Every semantic problem of ``config``; ``source`` supplies file, lines and ids for paths."""
    if source is None:
        source = ConfigSource(config.model_dump(mode="python"))
    checker = _Checker(config, source)
    checker.run()
    return sorted(checker.issues, key=lambda i: (i.line is None, i.line or 0))


class _Checker:
    def __init__(self, config: AxocoatlConfig, source: ConfigSource) -> None:
        self.config = config
        self.source = source
        self.issues: list[ConfigIssue] = []
        self.agents: dict[str, AgentConfig] = {}
        for agent in config.agents:
            self.agents.setdefault(agent.id, agent)
        self.agent_ids = list(self.agents)
        self.cyclic: set[str] = set()
        # Agents whose own definition already makes them unable to fire; not re-reported per workflow.
        self.stuck: set[str] = set()
        self.python_tools = self.load_python_tools()
        self.a2a_tools = [f"a2a__{a.name}" for a in config.a2a_agents]
        self._reacts: dict[str, list[str]] = {}
        self._emits: dict[str, list[str]] = {}
        for skill in config.skills:
            for agent_id in skill.agents:
                reacts, emits = self._reacts.setdefault(agent_id, []), self._emits.setdefault(agent_id, [])
                reacts.extend(e for e in dict.fromkeys(skill.reacts_to) if e not in reacts)
                emits.extend(e for e in dict.fromkeys(skill.emits) if e not in emits)

    def error(self, loc: Sequence[object], message: str, hint: str | None = None) -> None:
        self.issues.append(self.source.issue(loc, message, hint=hint))

    def warn(self, loc: Sequence[object], message: str, hint: str | None = None) -> None:
        self.issues.append(self.source.issue(loc, message, hint=hint, severity="warning"))

    def run(self) -> None:
        c = self.config
        self.unique("agents", "id", [a.id for a in c.agents], "agent id")
        self.unique("workflows", "id", [w.id for w in c.workflows], "workflow id")
        self.unique("skills", "id", [s.id for s in c.skills], "skill id")
        self.unique("schedules", "id", [s.id for s in c.schedules], "schedule id")
        self.unique("proactive", "id", [p.id for p in c.proactive], "proactive id")
        self.unique("mcp_servers", "name", [m.name for m in c.mcp_servers], "MCP server name")
        self.unique("hooks", "name", [h.name for h in c.hooks], "hook name")
        self.unique("webhooks", "name", [w.name for w in c.webhooks], "webhook name")
        self.unique("triggers", "name", [t.name for t in c.triggers], "trigger name")
        self.unique("a2a_agents", "name", [a.name for a in c.a2a_agents], "A2A agent name")
        for index, agent in enumerate(c.agents):
            self.check_agent(index, agent)
        self.check_cycles()
        self.check_workflow_nesting()
        for index, workflow in enumerate(c.workflows):
            self.check_workflow(index, workflow)
        self.check_roles_outside_workflows()
        self.check_provider_fallbacks()
        self.check_triggers()
        self.check_skills()
        self.check_hooks_and_webhooks()
        self.check_inbound_triggers()
        self.check_approval()
        self.check_store()
        self.check_cluster()
        self.check_inert_sections()
        self.check_sandbox()
        self.check_web_search()
        self.check_mcp_oauth()
        self.check_exposure()

    # ------------------------------------------------------------------------------ helpers

    def unique(self, section: str, key: str, values: list[str], noun: str) -> None:
        first: dict[str, int] = {}
        for index, value in enumerate(values):
            if value not in first:
                first[value] = index
                continue
            line = self.source.line_of((section, first[value], key))
            where = f" (first defined on line {line})" if line else ""
            self.error((section, index, key), f"duplicate {noun} '{value}'{where}", f"give each {noun} a unique value")

    def unknown_agent(self, loc: Sequence[object], name: str, what: str) -> None:
        self.error(loc, f"{what} '{name}' is not an agent", did_you_mean(name, self.agent_ids, noun="agent id"))

    def agent_index(self, agent_id: str) -> int:
        return next(i for i, a in enumerate(self.config.agents) if a.id == agent_id)

    def reacts_to(self, agent_id: str) -> list[str]:
        """The events the skills an agent holds react to (its ``event:`` subscriptions in a run)."""
        return self._reacts.get(agent_id, [])

    def emits(self, agent_id: str) -> list[str]:
        """The events an agent publishes on completion (those of every skill it holds)."""
        return self._emits.get(agent_id, [])

    def event_sources(self, event: str, besides: str) -> int:
        """Most deposits ``event`` can make on one agent: each skill emitting it (fired) and each other holder."""
        skills = [s for s in self.config.skills if event in s.emits]
        holders = {a for s in skills for a in s.agents if a != besides and a in self.agents}
        return len(skills) + len(holders)

    # ------------------------------------------------------------------------------- agents

    def check_agent(self, index: int, agent: AgentConfig) -> None:
        base = ("agents", index)
        if agent.provider not in KNOWN_PROVIDERS:
            self.error(
                (*base, "provider"),
                f"unknown provider '{agent.provider}'",
                did_you_mean(agent.provider, KNOWN_PROVIDERS, noun="provider"),
            )
        elif agent.provider == "mock":
            try:
                MockOptions.model_validate(agent.options)
            except ValidationError as exc:
                self.issues.extend(schema_issues(exc, self.source, model=MockOptions, prefix=(*base, "options")))
        if agent.options and agent.provider != "mock" and agent.workflow is None:  # a step: see check_control_flow
            self.warn(
                (*base, "options"),
                f"options has no effect with provider '{agent.provider}': only the mock provider reads options",
                "remove options, or use provider: mock (see docs/mock-provider.md)",
            )
        self.check_tools(index, agent)
        seen: set[str] = set()
        for position, dep in enumerate(agent.depends_on):
            loc = (*base, "depends_on", position)
            if dep == agent.id:
                self.error(loc, f"agent '{agent.id}' depends on itself", "remove it from its own depends_on")
                self.stuck.add(agent.id)
            elif dep in seen:
                self.warn(loc, f"'{dep}' is listed twice in depends_on", "remove the duplicate entry")
            elif dep not in self.agents:
                if agent.map is not None and dep == agent.map.over:
                    self.unknown_agent((*base, "map", "over"), dep, "map.over")
                else:
                    self.unknown_agent(loc, dep, "depends_on entry")
                self.stuck.add(agent.id)
            seen.add(dep)
        self.check_threshold(index, agent, len(seen))
        self.check_conditions(index, agent)
        self.check_control_flow(index, agent)

    def check_control_flow(self, index: int, agent: AgentConfig) -> None:
        """Sub-workflow steps name a workflow; map, interrupt and workflow combine only where supported."""
        base = ("agents", index)
        if agent.workflow is not None:
            names = [w.id for w in self.config.workflows]
            if agent.workflow not in names:
                self.error(
                    (*base, "workflow"),
                    f"workflow '{agent.workflow}' is not a workflow",
                    did_you_mean(agent.workflow, names, noun="workflow id"),
                )
            for key in ("map", "interrupt", "branches"):
                if getattr(agent, key):
                    self.error(
                        (*base, key),
                        f"'{agent.id}' runs a sub-workflow: {key} does not apply to it",
                        f"move {key} onto an agent of workflow '{agent.workflow}', or remove it",
                    )
            for key in SUBFLOW_INERT_KEYS:
                if key in agent.model_fields_set:
                    self.warn(
                        (*base, key),
                        f"{key} has no effect: '{agent.id}' runs workflow '{agent.workflow}' and makes no model "
                        "call or tool call of its own",
                        f"set it on the agents of workflow '{agent.workflow}', or remove it",
                    )
        if agent.map is not None and agent.interrupt is not None:
            self.error(
                (*base, "interrupt"),
                f"'{agent.id}' is a map: an interrupt on it would ask once per item, which is not supported",
                "put the interrupt on the agent that depends on the map",
            )
        if "ask_human" in agent.tools and (agent.map is not None or agent.interrupt is not None):
            kind = "a map (its items cannot ask)" if agent.map is not None else "an interrupt, the question it asks"
            self.warn(
                (*base, "tools", agent.tools.index("ask_human")),
                f"ask_human has no effect on '{agent.id}': it has {kind}; its calls return an error",
                "remove ask_human from its tools, or ask from an agent without map or interrupt",
            )

    def check_conditions(self, index: int, agent: AgentConfig) -> None:
        """``when:`` edges name a dependency, a valid regex or JSON path, and a branch its router has."""
        base = ("agents", index)
        for position, branch in enumerate(agent.branches):
            if not branch.strip() or branch in agent.branches[:position]:
                self.error(
                    (*base, "branches", position),
                    f"branch '{branch}' is empty or listed twice",
                    "give each branch a distinct, non-empty name",
                )
        for upstream, condition in agent.when.items():
            loc = (*base, "when", upstream)
            if upstream not in agent.depends_on:
                self.error(
                    loc,
                    f"when: '{upstream}' is not in the depends_on of '{agent.id}', so no edge carries this condition",
                    f"add '{upstream}' to depends_on, or remove when.{upstream}",
                )
                continue
            if condition.matches is not None:
                try:
                    re.compile(condition.matches)
                except re.error as exc:
                    self.error(
                        (*loc, "matches"), f"invalid regular expression: {exc}", "fix the pattern (Python re syntax)"
                    )
            if condition.path is not None:
                try:
                    parse_path(condition.path)
                except PathError as exc:
                    self.error((*loc, "path"), str(exc), "write a path such as $.score or $.items[0].name")
            if condition.branch is not None:
                router = self.agents.get(upstream)
                branches = router.branches if router is not None else []
                if not branches:
                    self.error(
                        (*loc, "branch"),
                        f"'{upstream}' has no branches, so it chooses none (branch '{condition.branch}')",
                        f"list the branches under agents[{upstream}].branches, or use contains/equals/matches",
                    )
                elif condition.branch not in branches:
                    self.error(
                        (*loc, "branch"),
                        f"unknown branch '{condition.branch}': router '{upstream}' has {', '.join(branches)}",
                        did_you_mean(condition.branch, branches, noun="branch"),
                    )

    def load_python_tools(self) -> list[str]:
        """The names of the tools the files of tools.python define (importing them, as the runtime will)."""
        names: list[str] = []
        base = Path(self.source.file).parent if self.source.file and Path(self.source.file).exists() else Path.cwd()
        for index, entry in enumerate(self.config.tools.python):
            loc = ("tools", "python", index)
            path = (base / entry).resolve()
            if not path.is_file():
                self.error(loc, f"no Python file '{entry}' ({path})", "list files relative to axocoatl.yaml")
                continue
            key = "axocoatl_user_tools_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
            module = sys.modules.get(key)
            if module is None:
                spec = importlib.util.spec_from_file_location(key, path)
                if spec is None or spec.loader is None:
                    self.error(loc, f"'{entry}' is not a Python file", "name it *.py")
                    continue
                module = importlib.util.module_from_spec(spec)
                sys.modules[key] = module
                try:
                    spec.loader.exec_module(module)
                except Exception as exc:
                    del sys.modules[key]
                    self.error(loc, f"importing '{entry}' failed: {type(exc).__name__}: {exc}", "fix the file")
                    continue
            # Duck-typed: axocoatl.tool (the tools layer) marks each function with its Tool.
            found = [v.__axocoatl_tool__.name for v in vars(module).values() if _is_tool(v)]
            if not found:
                self.error(loc, f"'{entry}' defines no tool", "decorate its functions with @axocoatl.tool")
            for name in found:
                if name in BUILTIN_TOOLS or name in MEMORY_TOOLS or name in names:
                    self.error(loc, f"'{entry}' defines tool '{name}', a name already taken", "rename the function")
            names.extend(found)
        return names

    def check_tools(self, index: int, agent: AgentConfig) -> None:
        known = [*BUILTIN_TOOLS, *MEMORY_TOOLS, *self.python_tools, *self.a2a_tools]
        seen: set[str] = set()
        for position, name in enumerate(agent.tool_names):
            loc = ("agents", index, "tools", position)
            if name in seen:
                self.warn(loc, f"tool '{name}' is listed twice", "remove the duplicate entry")
            seen.add(name)
            if name in BUILTIN_TOOLS or name in self.python_tools or name in self.a2a_tools:
                continue
            if self.check_mcp_tool(loc, name) or self.check_tool_glob(loc, name, known):
                continue
            if name in RETIRED_TOOLS:
                # Memory tools come with the agent whatever this list says, so the entry never did anything.
                self.warn(loc, f"tool '{name}' no longer exists; this entry has no effect", _tool_hint(name, known))
            elif name not in MEMORY_TOOLS:
                self.error(loc, f"unknown tool '{name}'", _tool_hint(name, known))
            elif not agent.memory.tools:
                self.warn(
                    loc,
                    f"tool '{name}' has no effect: memory tools are off for '{agent.id}' (memory.tools: false)",
                    f"remove it, or set agents[{agent.id}].memory.tools: true",
                )
            elif name in CORE_MEMORY_TOOLS and not agent.memory.core.blocks:
                self.warn(
                    loc,
                    f"tool '{name}' has no effect: '{agent.id}' has no core-memory blocks",
                    "remove it, or add blocks under memory.core.blocks",
                )

    def check_mcp_tool(self, loc: Sequence[object], name: str) -> bool:
        """True when ``name`` (or glob) is an MCP tool; an unknown server is an error. The servers' own tool
        names are only known once they run (`axocoatl mcp tools` lists them)."""
        servers = [m.name for m in self.config.mcp_servers]
        if name in MCP_TOOLS:
            if not servers:
                self.warn(loc, f"tool '{name}' has no effect: no mcp_servers are configured", "remove it")
            return True
        server = mcp_tool_server(name)
        if server is None:
            return False
        if not any(fnmatch.fnmatchcase(s, server) for s in servers):
            hint = did_you_mean(server, servers, noun="MCP server", none="add it under mcp_servers")
            self.error(loc, f"tool '{name}' names MCP server '{server}', which is not configured", hint)
        return True

    def check_mcp_oauth(self) -> None:
        for index, server in enumerate(self.config.mcp_servers):
            if server.oauth is not None and server.oauth.issuer is None:
                self.warn(
                    ("mcp_servers", index, "oauth"),
                    f"oauth has no issuer: the MCP server '{server.name}' decides which authorization server "
                    "receives the client secret",
                    "set oauth.issuer to your authorization server's issuer URL",
                )

    def check_tool_glob(self, loc: Sequence[object], name: str, known: Sequence[str]) -> bool:
        """True when ``name`` is a glob (``read_*``); one that matches no tool is a warning."""
        if not any(c in name for c in "*?["):
            return False
        if not any(fnmatch.fnmatchcase(tool, name) for tool in known):
            self.warn(
                loc,
                f"tool pattern '{name}' matches no tool",
                "MCP tools are named mcp__{server}__{tool}; list them with `axocoatl mcp tools`",
            )
        return True

    def check_threshold(self, index: int, agent: AgentConfig, dependencies: int) -> None:
        threshold = agent.activation_threshold
        if threshold is None:
            return
        loc = ("agents", index, "activation_threshold")
        events = self.reacts_to(agent.id)
        if dependencies == 0 and not events:
            self.warn(
                loc,
                f"activation_threshold has no effect: '{agent.id}' has no depends_on",
                "entry agents run on the workflow input; remove activation_threshold or add depends_on",
            )
            return
        sources = dependencies + sum(self.event_sources(e, agent.id) for e in events)
        most = DEPOSIT * sources
        if threshold > most + _EPSILON:
            if events:
                why = (
                    f"its {dependencies} dependencies and the emitters of {', '.join(events)} deposit "
                    f"{DEPOSIT:g} each, so at most {most:g}"
                )
            elif dependencies == 1:
                why = f"its only dependency deposits {DEPOSIT:g}"
            else:
                why = f"each of its {dependencies} dependencies deposits {DEPOSIT:g}, so at most {most:g}"
            self.error(
                loc,
                f"activation_threshold {threshold:g} can never be reached: {why}",
                f"use at most {most:g} (every source done), or {DEPOSIT:g} x the quorum you want",
            )
            self.stuck.add(agent.id)

    def check_cycles(self) -> None:
        graph = {
            a.id: [d for d in dict.fromkeys(a.depends_on) if d != a.id and d in self.agents]
            for a in self.agents.values()
        }
        while (cycle := find_cycle(graph)) is not None:
            ring = cycle[:-1]
            start = min(range(len(ring)), key=lambda i: self.agent_index(ring[i]))
            ring = ring[start:] + ring[:start]
            first, second = ring[0], ring[1 % len(ring)]
            agent = self.agents[first]
            loc = ("agents", self.agent_index(first), "depends_on", agent.depends_on.index(second))
            shown = " -> ".join([*ring, first])
            self.error(
                loc,
                f"dependency cycle: {shown} (each depends on the next)",
                "remove one of these depends_on entries; agents in a cycle wait for each other forever",
            )
            self.cyclic.update(ring)
            for node in ring:
                graph.pop(node, None)

    def check_workflow_nesting(self) -> None:
        """A workflow must not run itself through its sub-workflow steps (directly or through others)."""
        graph = {
            w.id: [
                a.workflow
                for m in w.agents
                if (a := self.agents.get(m)) is not None and a.workflow is not None and a.workflow != w.id
            ]
            for w in self.config.workflows
        }
        for workflow in self.config.workflows:
            for member in workflow.agents:
                agent = self.agents.get(member)
                if agent is not None and agent.workflow == workflow.id:
                    self.error(
                        ("agents", self.agent_index(member), "workflow"),
                        f"'{member}' runs workflow '{workflow.id}', which contains it: it would run itself forever",
                        "point it at another workflow",
                    )
        while (cycle := find_cycle(graph)) is not None:
            shown = " -> ".join(cycle)
            first = next(w for w in self.config.workflows if w.id == cycle[0])
            self.error(
                ("workflows", self.config.workflows.index(first), "agents"),
                f"sub-workflow cycle: {shown} (each runs the next)",
                "break the cycle: a workflow must not run itself through its sub-workflow steps",
            )
            for name in cycle[:-1]:
                graph.pop(name, None)

    # ---------------------------------------------------------------------------- workflows

    def check_workflow(self, index: int, workflow: WorkflowConfig) -> None:
        base = ("workflows", index)
        name = workflow.id
        if not workflow.agents:
            self.error((*base, "agents"), f"workflow '{name}' has no agents", "list its agents: agents: [a, b]")
        members: dict[str, int] = {}  # agent id -> its first position in workflow.agents
        for position, agent_id in enumerate(workflow.agents):
            loc = (*base, "agents", position)
            if agent_id not in self.agents:
                self.unknown_agent(loc, agent_id, "workflow agent")
            elif agent_id in members:
                self.warn(loc, f"'{agent_id}' is listed twice in workflow '{name}'", "remove the duplicate entry")
            else:
                members[agent_id] = position
        entry = workflow.entry_point
        if entry is not None:
            if entry not in self.agents:
                self.unknown_agent((*base, "entry_point"), entry, "entry_point")
                return
            if entry not in members:
                self.error(
                    (*base, "entry_point"),
                    f"entry_point '{entry}' is not one of the agents of workflow '{name}'",
                    f"add '{entry}' to workflows[{name}].agents, or pick one of: {', '.join(members) or '(none)'}",
                )
                return
        if members:
            before = len(self.issues)
            workers = self.check_coordination(base, workflow, members)
            if not any(i.severity == "error" for i in self.issues[before:]):  # else reach would only echo them
                self.check_workflow_reach(base, workflow, {m: p for m, p in members.items() if m not in workers})

    def check_roles_outside_workflows(self) -> None:
        listed = {a for w in self.config.workflows for a in w.agents}
        for index, agent in enumerate(self.config.agents):
            if agent.role != "autonomous" and agent.id not in listed:
                self.warn(
                    ("agents", index, "role"),
                    f"role '{agent.role}' has no effect: '{agent.id}' is in no workflow (a coordinator and its "
                    "workers work inside one)",
                    "list it in a workflow's agents (docs/coordinator.md), or remove role",
                )

    def check_coordination(
        self, base: tuple[object, ...], workflow: WorkflowConfig, members: dict[str, int]
    ) -> set[str]:
        """A coordinator workflow (docs/coordinator.md): its coordinator, workers and HTN methods.

        Returns the workers that form the coordinator's pool (they are not lattice steps)."""
        name = workflow.id
        coordinators = [m for m in members if self.agents[m].role == "coordinator"]
        workers = [m for m in members if self.agents[m].role == "worker"]
        if not coordinators:
            for key in _COORDINATOR_KEYS:
                if key in workflow.model_fields_set:
                    self.warn(
                        (*base, key),
                        f"{key} has no effect: workflow '{name}' has no coordinator",
                        "make its entry agent role: coordinator (docs/coordinator.md), or remove the key",
                    )
            for worker in workers:
                self.warn(
                    ("agents", self.agent_index(worker), "role"),
                    f"role 'worker' has no effect in workflow '{name}': it has no coordinator, so '{worker}' runs "
                    "like any agent (when its depends_on complete)",
                    "add a role: coordinator entry agent to the workflow, or remove role (autonomous is the default)",
                )
            return set()
        coordinator = coordinators[0]
        for extra in coordinators[1:]:
            self.error(
                (*base, "agents", members[extra]),
                f"workflow '{name}' has two coordinators: '{coordinator}' and '{extra}'",
                "a workflow has one coordinator; make the other a worker or remove it",
            )
        if workflow.entry_point is not None and workflow.entry_point != coordinator:
            self.error(
                (*base, "entry_point"),
                f"entry_point '{workflow.entry_point}' is not the coordinator '{coordinator}' of workflow '{name}'",
                f"the coordinator receives the goal: set entry_point: {coordinator}",
            )
        if any(d in members for d in self.agents[coordinator].depends_on):
            self.error(
                ("agents", self.agent_index(coordinator), "depends_on"),
                f"coordinator '{coordinator}' depends on agents of workflow '{name}'",
                "the coordinator receives the goal first: remove its depends_on",
            )
        for worker in workers:
            if self.agents[worker].depends_on:
                self.error(
                    ("agents", self.agent_index(worker), "depends_on"),
                    f"worker '{worker}' has depends_on, but workers of workflow '{name}' run when its coordinator "
                    "hands them a subtask",
                    "remove its depends_on (order subtasks with after: in the HTN methods)",
                )
        if workflow.htn_methods_file is None:
            if "goal_task" in workflow.model_fields_set:
                self.warn(
                    (*base, "goal_task"),
                    "goal_task has no effect without htn_methods_file: the LLM decomposes the goal",
                    "add htn_methods_file, or remove goal_task",
                )
        else:
            self.check_methods_file(base, workflow)
        return set(workers)

    def check_methods_file(self, base: tuple[object, ...], workflow: WorkflowConfig) -> None:
        entry = workflow.htn_methods_file or ""
        folder = Path(self.source.file).parent if self.source.file and Path(self.source.file).exists() else Path.cwd()
        path = (folder / entry).resolve()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self.error(
                (*base, "htn_methods_file"),
                f"cannot read the HTN methods file '{entry}' ({path}): {reason}",
                "give a YAML file relative to axocoatl.yaml (docs/coordinator.md)",
            )
            return
        try:
            methods = parse_methods(text, str(path))
        except ConfigError as exc:
            self.issues.extend(exc.issues)
            return
        if not methods:
            self.warn(
                (*base, "htn_methods_file"),
                f"the HTN methods file '{entry}' has no methods: the LLM decomposes every goal",
                "add methods, or remove htn_methods_file",
            )
        known = {*BUILTIN_TOOLS, *MEMORY_TOOLS, *self.python_tools}
        for method in methods:
            for task in method.subtasks:
                for tool in task.tools:
                    if tool not in known:
                        self.issues.append(
                            ConfigIssue(
                                f"{method.task_pattern}.subtasks.{task.name}.parameters.tools",
                                f"unknown tool '{tool}': no worker can hold it, so no worker can bid on '{task.name}'",
                                _tool_hint(tool, sorted(known), known_list=True),
                                str(path),
                                method.line,
                                severity="warning",
                            )
                        )

    def check_workflow_reach(self, base: tuple[object, ...], workflow: WorkflowConfig, members: dict[str, int]) -> None:
        """Flag agents that could never fire in this workflow, simulating the lattice's threshold rule."""
        name = workflow.id
        lattice = list(members)
        # As runtime.plans.plan_workflow builds the run's lattice: an agent holding a skill that
        # reacts_to an event waits for it (an agent of the run emitting it), it is not an entry.
        if workflow.entry_point is not None:
            entries = [workflow.entry_point]
        else:
            entries = [
                m for m in lattice if not any(d in members for d in self.agents[m].depends_on) and not self.reacts_to(m)
            ]
        if not entries and lattice:
            waits = " or waits for a skill event" if any(self.reacts_to(m) for m in lattice) else ""
            self.error(
                base,
                f"workflow '{name}' has no entry agent: every agent in it depends on another agent{waits}",
                "set entry_point to the agent that should receive the input, or remove that agent's depends_on",
            )
            return
        if not entries:
            return
        reported = set(self.stuck) | self.cyclic
        for member in lattice:
            if member == workflow.entry_point or member in reported:
                continue
            outside = [
                d for d in dict.fromkeys(self.agents[member].depends_on) if d in self.agents and d not in members
            ]
            if outside:
                listed = ", ".join(f"'{d}'" for d in outside)
                self.error(
                    (*base, "agents", members[member]),
                    f"agent '{member}' depends on {listed}, which {'is' if len(outside) == 1 else 'are'} not in "
                    f"workflow '{name}', so that dependency never completes there",
                    f"add {listed} to workflows[{name}].agents, or remove {'it' if len(outside) == 1 else 'them'} "
                    f"from agents[{member}].depends_on",
                )
                reported.add(member)
        fired = self.fireable(entries, lattice)
        for member in lattice:
            if member in fired or member in reported or member in entries:
                continue
            deps = [d for d in dict.fromkeys(self.agents[member].depends_on) if d in members]
            events = self.reacts_to(member)
            emitted = {e for m in fired for e in self.emits(m)}
            if events and not deps:
                missing = ", ".join(f"'{e}'" for e in events if e not in emitted) or ", ".join(events)
                hint = (
                    f"it waits for the event {missing}, which no agent of this workflow that can run emits; "
                    f"add an agent holding a skill that emits it, or set entry_point to '{member}'"
                )
            elif not deps:
                hint = (
                    f"only the entry_point '{workflow.entry_point}' receives the input; make '{member}' depend on an "
                    "agent of this workflow, or remove it from the workflow"
                )
            else:
                waiting = ", ".join(f"'{d}'" for d in deps if d not in fired)
                hint = f"it waits for {waiting or 'more signal than its sources deposit'}, which can never run; "
                hint += "fix that agent first"
            self.error(
                (*base, "agents", members[member]),
                f"agent '{member}' can never run in workflow '{name}': it is not reachable from "
                + ", ".join(f"'{e}'" for e in entries),
                hint,
            )

    def fireable(self, entries: Iterable[str], lattice: list[str]) -> set[str]:
        """The agents that can fire when every agent that can fire completes (linear in the edges)."""
        members = set(lattice)
        dependents: dict[str, list[str]] = {}  # producer -> one entry per deposit it makes on a member
        for member in lattice:
            for dep in dict.fromkeys(self.agents[member].depends_on):
                if dep in members and dep != member:
                    dependents.setdefault(dep, []).append(member)
        emitters: dict[str, list[str]] = {}
        for member in lattice:
            for event in self.emits(member):
                emitters.setdefault(event, []).append(member)
        for member in lattice:
            for event in self.reacts_to(member):
                for producer in emitters.get(event, ()):
                    if producer != member:
                        dependents.setdefault(producer, []).append(member)
        received: dict[str, int] = {}
        fired: set[str] = set()
        queue = list(entries)
        while queue:
            agent = queue.pop()
            if agent in fired:
                continue
            fired.add(agent)
            for child in dependents.get(agent, ()):
                received[child] = received.get(child, 0) + 1
                if child not in fired and DEPOSIT * received[child] + _EPSILON >= self.threshold(child, members):
                    queue.append(child)
        return fired

    def threshold(self, agent_id: str, members: set[str]) -> float:
        agent = self.agents[agent_id]
        if agent.activation_threshold is not None:
            return agent.activation_threshold
        # As NodeSpec.effective_threshold: the dependencies' deposits, or one event without any.
        return DEPOSIT * max(1, len({d for d in agent.depends_on if d in members}))

    # ------------------------------------------------------------------------ other sections

    def check_provider_fallbacks(self) -> None:
        providers = self.config.providers
        for name in KNOWN_PROVIDERS:
            section = getattr(providers, name, None)
            for position, fallback in enumerate(getattr(section, "fallback", None) or []):
                loc = ("providers", name, "fallback", position)
                if fallback == name:
                    self.error(loc, f"provider '{name}' lists itself as a fallback", "remove it from the list")
                elif fallback not in KNOWN_PROVIDERS:
                    self.error(
                        loc, f"unknown provider '{fallback}'", did_you_mean(fallback, KNOWN_PROVIDERS, noun="provider")
                    )

    def check_triggers(self) -> None:
        workflow_ids = [w.id for w in self.config.workflows]
        for index, schedule in enumerate(self.config.schedules):
            base = ("schedules", index)
            if schedule.workflow is not None and schedule.workflow not in workflow_ids:
                self.error(
                    (*base, "workflow"),
                    f"schedule '{schedule.id}' runs unknown workflow '{schedule.workflow}'",
                    did_you_mean(schedule.workflow, workflow_ids, noun="workflow id"),
                )
            if schedule.agent is not None and schedule.agent not in self.agents:
                self.unknown_agent((*base, "agent"), schedule.agent, f"schedule '{schedule.id}' agent")
            if schedule.every is not None:
                self.check_interval((*base, "every"), schedule.every)
                if "timezone" in schedule.model_fields_set:
                    self.warn(
                        (*base, "timezone"),
                        "timezone has no effect with 'every': an interval is the same in every time zone",
                        "remove timezone, or use cron (e.g. cron: '0 7 * * 1-5') to fire at a local time",
                    )
                elif _seconds(schedule.jitter) >= _seconds(schedule.every) > 0:
                    self.warn(
                        (*base, "jitter"),
                        f"jitter {schedule.jitter.strip()} is not shorter than the interval {schedule.every.strip()}: "
                        "fires may run late into the next slot",
                        "use a jitter well below the interval",
                    )
            if schedule.cron is not None:
                self.check_cron((*base, "cron"), schedule.cron)
            self.check_timezone((*base, "timezone"), schedule.timezone)
        for index, job in enumerate(self.config.proactive):
            self.check_proactive(index, job)

    def check_proactive(self, index: int, job: ProactiveConfig) -> None:
        from axocoatl.core.templating import names

        base = ("proactive", index)
        if job.agent is not None and job.agent not in self.agents:
            self.unknown_agent((*base, "agent"), job.agent, "proactive agent")
        workflow_ids = [w.id for w in self.config.workflows]
        if job.workflow is not None and job.workflow not in workflow_ids:
            self.error(
                (*base, "workflow"),
                f"proactive '{job.id}' runs unknown workflow '{job.workflow}'",
                did_you_mean(job.workflow, workflow_ids, noun="workflow id"),
            )
        trigger = job.trigger
        if trigger.type == "schedule":
            if trigger.every is not None:
                self.check_interval((*base, "trigger", "every"), trigger.every)
            if trigger.cron is not None:
                self.check_cron((*base, "trigger", "cron"), trigger.cron)
            self.check_timezone((*base, "trigger", "timezone"), trigger.timezone)
        else:
            loc: tuple[object, ...] = (*base, "trigger", "event")
            if not trigger.names:
                self.error(loc, "no event is named", "name the events to react to, for example run.failed")
            for position, name in enumerate(trigger.names):
                where = loc if isinstance(trigger.event, str) else (*loc, position)
                if not name.strip():
                    self.error(where, "the event name is empty", "name the event to react to, for example AgentFailed")
                else:
                    self.check_event_name(where, name)
        for name in names(job.input):
            if name != "event":
                self.error(
                    (*base, "input"),
                    f"the input template uses '{{{{ {name} }}}}'; a proactive run's template sees only 'event'",
                    "use {{ event.type }}, {{ event.run_id }}, {{ event.payload.error }}...",
                )
        self.check_stray((*base, "input"), job.input)

    def check_stray(self, loc: Sequence[object], template: str) -> None:
        from axocoatl.core.templating import stray

        for text in stray(template):
            self.error(
                loc,
                f"the input template has '{text}', which is not a placeholder (it would be sent as written)",
                "write {{ name.path }}: letters, digits, _ and - joined by dots; there are no filters or expressions",
            )

    def check_interval(self, loc: Sequence[object], every: str) -> None:
        match = _INTERVAL.match(every)
        if match is not None and int(match.group(1)) == 0:
            self.error(loc, f"interval '{every.strip()}' is zero", "use a positive interval such as 30s or 1h")

    def check_timezone(self, loc: Sequence[object], name: str) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            close = closest(name, sorted(available_timezones())) if name else None
            # The first zones in alphabetical order are no help: name the form instead.
            hint = "use an IANA name such as Europe/Paris, America/New_York or UTC"
            if close is not None:
                hint = f"did you mean '{close}'?"
            self.error(loc, f"unknown time zone '{name}'", hint)

    def check_cron(self, loc: Sequence[object], expression: str) -> None:
        try:
            from croniter import croniter  # lazy: keeps `import axocoatl.config` light
        except ImportError:  # pragma: no cover - croniter is a declared dependency
            return
        if not croniter.is_valid(expression):
            self.error(
                loc,
                f"'{expression}' is not a valid cron expression",
                "use five fields: minute hour day-of-month month day-of-week, for example '*/15 9-17 * * mon-fri'",
            )

    def check_skills(self) -> None:
        for index, skill in enumerate(self.config.skills):
            for position, agent_id in enumerate(skill.agents):
                if agent_id not in self.agents:
                    self.unknown_agent(("skills", index, "agents", position), agent_id, "skill agent")

    def check_approval(self) -> None:
        approval = self.config.approval
        known = [*BUILTIN_TOOLS, *MEMORY_TOOLS, *self.python_tools]
        for position, name in enumerate(approval.tools):
            if name not in known and not self.check_mcp_tool(("approval", "tools", position), name):
                self.error(("approval", "tools", position), f"unknown tool '{name}'", _tool_hint(name, known))
        # An MCP server's tools come from the source mcp:NAME.
        sources = [*APPROVAL_SOURCES, *(f"mcp:{m.name}" for m in self.config.mcp_servers)]
        for position, source in enumerate(approval.sources):
            if source not in sources:
                self.error(
                    ("approval", "sources", position),
                    f"unknown tool source '{source}'",
                    did_you_mean(source, sources, noun="source", known=True),
                )

    def check_hook_callable(self, base: tuple[object, ...], target: str) -> None:
        """Import a python hook's function as the runtime will (a file under the same module key as its loader)."""
        where, _, name = target.rpartition(":")
        loc = (*base, "callable")
        hint = "point callable at package.module:function, or file.py:function (relative to axocoatl.yaml)"
        try:
            if where.endswith(".py"):
                source = self.source.file
                folder = Path(source).parent if source and Path(source).exists() else Path.cwd()
                path = (folder / where).resolve()  # validation runs before the loader anchors paths
                if not path.is_file():
                    self.error(loc, f"no Python file '{where}'", hint)
                    return
                key = "axocoatl_user_tools_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
                module = sys.modules.get(key)
                if module is None:
                    spec = importlib.util.spec_from_file_location(key, path)
                    assert spec is not None and spec.loader is not None
                    module = importlib.util.module_from_spec(spec)
                    sys.modules[key] = module
                    try:
                        spec.loader.exec_module(module)
                    except BaseException:
                        del sys.modules[key]
                        raise
            else:
                module = importlib.import_module(where)
        except Exception as exc:
            self.error(loc, f"importing '{where}' failed: {type(exc).__name__}: {exc}", hint)
            return
        if not callable(getattr(module, name, None)):
            self.error(loc, f"'{where}' has no function '{name}'", hint)

    def check_hooks_and_webhooks(self) -> None:
        for index, hook in enumerate(self.config.hooks):
            base = ("hooks", index)
            if not hook.name.strip():
                self.error((*base, "name"), "the hook name is empty", "give the hook a name")
            for position, pattern in enumerate(hook.tools):
                known = [*BUILTIN_TOOLS, *MEMORY_TOOLS, *self.python_tools]
                if not any(fnmatch.fnmatchcase(name, pattern) for name in known) and "__" not in pattern:
                    self.warn(
                        (*base, "tools", position),
                        f"hook '{hook.name}' applies to '{pattern}', which names no tool",
                        _tool_hint(pattern, known),
                    )
            if hook.callable is not None:
                self.check_hook_callable(base, hook.callable)
            if hook.agent_id is not None and hook.agent_id not in self.agents:
                self.unknown_agent((*base, "agent_id"), hook.agent_id, "hook agent_id")
            if hook.url is not None and not hook.url.startswith(("http://", "https://")):
                self.error((*base, "url"), f"'{hook.url}' is not an http(s) URL", "start it with http:// or https://")
        for index, webhook in enumerate(self.config.webhooks):
            if not webhook.name.strip():
                self.error(("webhooks", index, "name"), "the webhook name is blank", "give the webhook a name")
            for position, name in enumerate(webhook.events):
                self.check_event_name(("webhooks", index, "events", position), name)

    def check_inbound_triggers(self) -> None:
        from axocoatl.core.templating import names

        workflow_ids = [w.id for w in self.config.workflows]
        for index, trigger in enumerate(self.config.triggers):
            base = ("triggers", index)
            if trigger.workflow is not None and trigger.workflow not in workflow_ids:
                self.error(
                    (*base, "workflow"),
                    f"trigger '{trigger.name}' runs unknown workflow '{trigger.workflow}'",
                    did_you_mean(trigger.workflow, workflow_ids, noun="workflow id"),
                )
            if trigger.agent is not None and trigger.agent not in self.agents:
                self.unknown_agent((*base, "agent"), trigger.agent, f"trigger '{trigger.name}' agent")
            for name in names(trigger.input):
                if name not in ("body", "raw", "headers"):
                    self.error(
                        (*base, "input"),
                        f"the input template uses '{{{{ {name} }}}}', which a request does not have",
                        "use {{ body }} (or {{ body.field }}), {{ raw }} or {{ headers.NAME }}",
                    )
            self.check_stray((*base, "input"), trigger.input)

    def check_event_name(self, loc: Sequence[object], name: str) -> None:
        """An event a filter names must be one the runtime logs: a type, its dotted alias, or a skill's event."""
        from axocoatl.core.events import EVENT_ALIASES, LOGGED_TYPES

        skill_events = {e for s in self.config.skills for e in (*s.emits, *s.reacts_to)}
        # A run's start also answers to what triggered it: webhook:NAME, schedule:ID.
        starts = [f"webhook:{t.name}" for t in self.config.triggers] + [
            f"schedule:{s.id}" for s in self.config.schedules
        ]
        known = [*LOGGED_TYPES, *EVENT_ALIASES, *sorted(skill_events), *starts]
        if name not in known:
            self.error(
                loc,
                f"unknown event '{name}': nothing ever publishes it",
                did_you_mean(name, known, noun="event", known=True),
            )

    def check_store(self) -> None:
        store = self.config.store
        if store.backend == "postgres":
            if not store.dsn:
                self.error(
                    ("store", "dsn"),
                    "store.backend is postgres but store.dsn is not set",
                    "set dsn: a PostgreSQL connection string, e.g. dsn: ${AXOCOATL_DSN} "
                    "with AXOCOATL_DSN=postgresql://user@host:5432/axocoatl",
                )
            for key in ("path", "synchronous"):
                if key in store.model_fields_set:
                    self.warn(
                        ("store", key),
                        f"store.{key} has no effect with backend postgres: it is a setting of the SQLite file",
                        f"remove {key}; PostgreSQL's own settings (synchronous_commit, ...) govern durability",
                    )
        elif store.dsn is not None:
            self.warn(
                ("store", "dsn"),
                "store.dsn has no effect with backend sqlite: it is the postgres backend's connection string",
                "set backend: postgres to use it, or remove dsn (the SQLite database lives at store.path)",
            )

    def check_cluster(self) -> None:
        cluster = self.config.cluster
        if cluster.nats and self.config.store.backend != "postgres":
            self.error(
                ("cluster", "nats"),
                "cluster.nats needs store.backend: postgres: the nodes that share work must share one database",
                "set store: {backend: postgres, dsn: ${AXOCOATL_DSN}}, or remove cluster.nats for a single node",
            )
        for index, url in enumerate(cluster.nats):
            if not url.startswith(("nats://", "tls://", "ws://", "wss://")) or len(url.split("://", 1)[1]) == 0:
                self.error(
                    ("cluster", "nats", index),
                    f"'{url}' is not a NATS server url",
                    "write nats://HOST:PORT (e.g. nats://127.0.0.1:4222)",
                )
        if not cluster.nats:
            for key in ("node_id", "stream", "replicas", "ack_wait_secs"):
                if key in cluster.model_fields_set:
                    self.warn(
                        ("cluster", key),
                        f"cluster.{key} has no effect without cluster.nats: this node works alone",
                        "set cluster.nats to the NATS server urls, or remove it",
                    )

    def check_web_search(self) -> None:
        """An agent's web_search tool needs the web_search: section (its backend), else every call fails.
        (A section without the tool is not warned about: a Python tool may use it through its context.)"""
        if self.config.web_search is not None:
            return
        for index, agent in enumerate(self.config.agents):
            for position, name in enumerate(agent.tool_names):
                if name == "web_search":  # by name: a glob that also matches it asked for more than search
                    self.warn(
                        ("agents", index, "tools", position),
                        "tool 'web_search' has no backend: there is no web_search: section, so every call fails",
                        "add web_search: {provider: searxng, url: ...} or {provider: tavily, api_key: ...} "
                        "(docs/tools.md), or remove the tool",
                    )

    def check_sandbox(self) -> None:
        """The sandbox contains commands (bash, bash_background): without them it does nothing; tier none is weak."""
        top = self.config.sandbox
        shell = [(i, a) for i, a in enumerate(self.config.agents) if any(t in _SHELL_TOOLS for t in a.tool_names)]
        if "sandbox" in self.config.model_fields_set and not shell:
            self.warn(
                ("sandbox",),
                "sandbox has no effect: no agent runs commands (it contains bash and bash_background)",
                "remove the section, or give an agent bash",
            )
        runs_commands = {i for i, _ in shell}
        for index, agent in enumerate(self.config.agents):
            if agent.sandbox is not None and index not in runs_commands:
                self.warn(
                    ("agents", index, "sandbox"),
                    f"sandbox has no effect: agent '{agent.id}' does not run commands (it has no bash tool)",
                    "remove it, or add bash to the agent's tools",
                )
        tiers = {
            index: agent.sandbox.tier
            if agent.sandbox is not None and "tier" in agent.sandbox.model_fields_set
            else top.tier
            for index, agent in shell
        }
        if "podman" in top.model_fields_set and shell and "podman" not in tiers.values():
            self.warn(
                ("sandbox", "podman"),
                "sandbox.podman has no effect: no agent's commands run under the podman tier",
                "remove it, or set tier: podman",
            )
        for index, agent in shell:
            if agent.sandbox is not None and "podman" in agent.sandbox.model_fields_set and tiers[index] != "podman":
                self.warn(
                    ("agents", index, "sandbox", "podman"),
                    f"podman has no effect: agent '{agent.id}' does not run under the podman tier",
                    "remove it, or set tier: podman",
                )
        for index, agent in shell:
            own = agent.sandbox if agent.sandbox is not None and "tier" in agent.sandbox.model_fields_set else None
            if tiers[index] == "none":
                where: tuple[object, ...] = ("agents", index, "sandbox", "tier") if own else ("sandbox", "tier")
                self.warn(
                    where,
                    f"agent '{agent.id}' runs bash without a sandbox (tier none): its commands can read and write "
                    "every file your user can and reach the network",
                    "use tier: auto (bubblewrap where installed) unless the commands are trusted",
                )

    def check_inert_sections(self) -> None:
        """Sections that parse and are checked, but that nothing in this version reads."""
        for key, reason in _INERT_SECTIONS.items():
            if key in self.config.model_fields_set and getattr(self.config, key):
                self.warn(
                    (key,),
                    f"{key} has no effect in this version: {reason}",
                    "remove the section; it is checked but not used yet",
                )

    def check_exposure(self) -> None:
        """Every ``expose`` entry names an agent id or ``workflow/ID``."""
        sections = [("openai_api", self.config.openai_api.expose), ("a2a", self.config.a2a.expose)]
        for section, expose in sections:
            for index, ref, known in unknown_refs(self.config, expose):
                self.error(
                    (section, "expose", index),
                    f"'{ref}' is neither an agent id nor workflow/ID of a workflow",
                    did_you_mean(ref, known, noun="agent id or workflow/ID"),
                )
        a2a = self.config.a2a
        if a2a.default is not None and a2a.default not in [t.ref for t in exposed_targets(self.config, a2a.expose)]:
            self.error(
                ("a2a", "default"),
                f"a2a.default '{a2a.default}' is not an exposed agent id or workflow/ID",
                "name one of a2a.expose (every agent and workflow when expose is unset)",
            )
        remotes = [r.name for r in self.config.a2a_agents]
        for index, agent in enumerate(self.config.agents):
            if agent.provider == "a2a" and agent.model not in remotes:
                self.error(
                    ("agents", index, "model"),
                    f"agent '{agent.id}' uses provider a2a, so its model must name an entry of a2a_agents",
                    did_you_mean(agent.model or "", remotes, noun="A2A agent", known=True),
                )
