"""Semantic checks of a schema-valid config: references, cycles, reachability, tools, providers, triggers,
and the keys that have no effect in this version."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import ValidationError

from axocoatl.config.schema import AgentConfig, AxocoatlConfig, MockOptions, WorkflowConfig
from axocoatl.config.schema_issues import schema_issues
from axocoatl.config.source import ConfigSource
from axocoatl.core.errors import ConfigIssue
from axocoatl.core.graph import find_cycle
from axocoatl.core.suggest import did_you_mean
from axocoatl.core.tool_names import BUILTIN_TOOLS, CORE_MEMORY_TOOLS, MEMORY_TOOLS

__all__ = ["KNOWN_PROVIDERS", "validate_config"]

KNOWN_PROVIDERS = ("local", "mock", "ollama", "openai", "openrouter", "mistral", "anthropic", "gemini")
# Each completed dependency deposits this much signal (see the event lattice in DESIGN.md).
DEPOSIT = 0.5
_EPSILON = 1e-9
_INTERVAL = re.compile(r"^\s*(\d+)\s*[smhd]\s*$")
# Top-level sections the schema accepts for features this version does not have yet.
_INERT_SECTIONS = {
    "mcp_servers": "MCP servers are not connected, so their tools are not offered to agents",
    "sandbox": "tools do not run in a sandbox yet",
    "hooks": "tool hooks are not run",
    "proactive": "proactive agents are not triggered",
    "webhooks": "events are not sent to webhooks; follow them over the daemon's WebSocket instead",
}


def _is_tool(value: object) -> bool:
    return isinstance(getattr(getattr(value, "__axocoatl_tool__", None), "name", None), str)


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
        for index, agent in enumerate(c.agents):
            self.check_agent(index, agent)
        self.check_cycles()
        for index, workflow in enumerate(c.workflows):
            self.check_workflow(index, workflow)
        self.check_provider_fallbacks()
        self.check_triggers()
        self.check_skills()
        self.check_hooks_and_webhooks()
        self.check_store()
        self.check_inert_sections()

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
        if agent.options and agent.provider != "mock":
            self.warn(
                (*base, "options"),
                f"options has no effect with provider '{agent.provider}': only the mock provider reads options",
                "remove options, or use provider: mock (see docs/mock-provider.md)",
            )
        if agent.role != "autonomous":
            self.warn(
                (*base, "role"),
                f"role '{agent.role}' has no effect in this version: coordinators and workers are not implemented, "
                f"so '{agent.id}' runs like any agent (when its depends_on complete)",
                "remove role (autonomous is the default)",
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
                self.unknown_agent(loc, dep, "depends_on entry")
                self.stuck.add(agent.id)
            seen.add(dep)
        self.check_threshold(index, agent, len(seen))

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
        known = [*BUILTIN_TOOLS, *MEMORY_TOOLS, *self.python_tools]
        seen: set[str] = set()
        for position, name in enumerate(agent.tools):
            loc = ("agents", index, "tools", position)
            if name in seen:
                self.warn(loc, f"tool '{name}' is listed twice", "remove the duplicate entry")
            seen.add(name)
            if name in BUILTIN_TOOLS or name in self.python_tools:
                continue
            if name not in MEMORY_TOOLS:
                self.error(loc, f"unknown tool '{name}'", did_you_mean(name, known, noun="tool"))
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

    # ---------------------------------------------------------------------------- workflows

    def check_workflow(self, index: int, workflow: WorkflowConfig) -> None:
        base = ("workflows", index)
        name = workflow.id
        if workflow.htn_methods_file is not None:
            self.warn(
                (*base, "htn_methods_file"),
                "htn_methods_file has no effect in this version: HTN planning is not implemented",
                "remove it; the workflow runs its agents by their depends_on",
            )
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
            self.check_workflow_reach(base, workflow, members)

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
            if job.agent not in self.agents:
                self.unknown_agent(("proactive", index, "agent"), job.agent, "proactive agent")
            trigger = job.trigger
            if trigger.type == "schedule":
                self.check_interval(("proactive", index, "trigger", "every"), trigger.every)
            elif not trigger.event.strip():
                self.error(
                    ("proactive", index, "trigger", "event"),
                    "the event name is empty",
                    "name the event to react to, for example AgentFailed",
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
            self.error(
                loc,
                f"unknown time zone '{name}'",
                did_you_mean(name, sorted(available_timezones()), noun="IANA time zone")
                if name
                else "use an IANA name such as Europe/Paris or UTC",
            )

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

    def check_hooks_and_webhooks(self) -> None:
        for index, hook in enumerate(self.config.hooks):
            base = ("hooks", index)
            if not hook.name.strip():
                self.error((*base, "name"), "the hook name is empty", "give the hook a name")
            if not hook.type.strip():
                self.error((*base, "type"), "the hook type is empty", "say what kind of hook this is")
            if hook.agent_id is not None and hook.agent_id not in self.agents:
                self.unknown_agent((*base, "agent_id"), hook.agent_id, "hook agent_id")
            if hook.url is not None and not hook.url.startswith(("http://", "https://")):
                self.error((*base, "url"), f"'{hook.url}' is not an http(s) URL", "start it with http:// or https://")
        for index, webhook in enumerate(self.config.webhooks):
            if not webhook.name.strip():
                self.error(("webhooks", index, "name"), "the webhook name is blank", "give the webhook a name")

    def check_store(self) -> None:
        store = self.config.store
        if store.backend != "sqlite":
            self.error(
                ("store", "backend"),
                f"store backend '{store.backend}' is not available in this version",
                "use backend: sqlite (the default)",
            )
        if store.dsn is not None:
            self.warn(
                ("store", "dsn"),
                "store.dsn has no effect in this version: it is for the postgres backend, which is not available",
                "remove dsn; the SQLite database lives at store.path (default: <data dir>/axocoatl.db)",
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
