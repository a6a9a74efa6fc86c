"""The HTN planner, pure: methods (from an ``htn_methods_file``) decompose compound tasks into primitives.

A method applies to a compound task when its ``task_pattern`` (a glob; a plain name matches
itself exactly) matches the task's name and all its preconditions hold over the planner state.
Methods for one task are alternatives, tried in file order: a method whose subtasks cannot be
planned (a compound subtask whose methods all fail, or the depth guard) is abandoned and the
state is restored before the next one is tried (backtracking). A compound task that no method
pattern covers at all is an LLM frontier: the coordinator asks the model to decompose it.
``effects`` update the state for the tasks planned after them. Two limits keep a recursive method
set from running away: a plan has at most ``MAX_TASKS`` primitives (a method that expands a task into
several copies of itself doubles the plan at every level), and the search tries at most
``MAX_EXPANSIONS`` methods (alternatives that die deep down are otherwise retried at every level,
exponentially). Either ends the planning with a PlanningError. The format is documented in
docs/coordinator.md.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from axocoatl.config.htn_methods import Condition, Method, Task, parse_methods
from axocoatl.core.errors import PlanningError

__all__ = ["Condition", "Method", "Plan", "PlannedTask", "Task", "parse_methods", "plan", "render", "root_task"]

DEFAULT_MAX_DEPTH = 16
MAX_TASKS = 256  # primitives in one plan (each is a worker's turn)
MAX_EXPANSIONS = 10_000  # methods tried in one search (each copies the state: 10,000 take about 0.5 s)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class PlannedTask:
    """One primitive of a plan: unique ``id``, what to do, the tools it needs and what it waits for."""

    id: str
    name: str
    description: str
    tools: tuple[str, ...]
    after: tuple[str, ...]  # ids of planned tasks that must finish first
    path: tuple[str, ...]  # the compound tasks it came from, root first
    via: tuple[tuple[int, int], ...] = ()  # the method expansions it came from: (serial, index in the methods)


@dataclass(frozen=True)
class Plan:
    tasks: tuple[PlannedTask, ...]
    frontiers: tuple[Task, ...]  # compound tasks no method covers (to decompose by the LLM)
    state: Mapping[str, Any]  # the planner state after every effect


class _Dead(Exception):
    """A branch cannot be planned (carries why, for the error when every alternative is dead)."""


class _Exhausted(Exception):
    """A search limit was hit: the whole planning stops (no backtracking out of it)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass
class _Search:
    methods: Sequence[Method]
    max_depth: int
    resolved: Mapping[str, Sequence[Task]]
    tasks: list[PlannedTask] = field(default_factory=list)
    frontiers: list[Task] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)
    serial: int = 0

    def snapshot(self) -> tuple[int, int, dict[str, int]]:
        return len(self.tasks), len(self.frontiers), dict(self.ids)

    def rollback(self, snap: tuple[int, int, dict[str, int]]) -> None:
        del self.tasks[snap[0] :]
        del self.frontiers[snap[1] :]
        self.ids = snap[2]

    def new_id(self, name: str) -> str:
        count = self.ids.get(name, 0) + 1
        self.ids[name] = count
        return name if count == 1 else f"{name}#{count}"

    def plan(
        self,
        task: Task,
        state: dict[str, Any],
        after: tuple[str, ...],
        path: tuple[str, ...],
        via: tuple[tuple[int, int], ...] = (),
    ) -> tuple[str, ...]:
        """Plan ``task`` (waiting for ``after``); returns the ids of the primitives it expanded to."""
        if task.primitive:
            if len(self.tasks) >= MAX_TASKS:
                raise _Exhausted(
                    f"the plan grew past {MAX_TASKS} subtasks (at {' > '.join((*path, task.name))})",
                    "a method that expands a task into several copies of itself multiplies the plan at every "
                    "level: give it a precondition or an effect that stops the recursion, or lower max_depth",
                )
            planned = PlannedTask(
                id=self.new_id(task.name),
                name=task.name,
                description=render(task.description, state),
                tools=task.tools,
                after=after,
                path=path,
                via=via,
            )
            self.tasks.append(planned)
            state.update(task.effects)
            return (planned.id,)
        if len(path) >= self.max_depth:
            chain = " > ".join((*path, task.name))
            raise _Dead(f"the depth guard ({self.max_depth} levels) stopped the decomposition at {chain}")
        if task.name in self.resolved:
            subtasks: Sequence[Task] = self.resolved[task.name]
            return self.expand(subtasks, {}, state, after, (*path, task.name), via)
        candidates = [(i, m) for i, m in enumerate(self.methods) if m.covers(task.name)]
        if not candidates:
            self.frontiers.append(task)
            state.update(task.effects)
            return ()
        reasons: list[str] = []
        deeper: list[_Dead] = []
        for index, method in candidates:
            self.serial += 1
            if self.serial > MAX_EXPANSIONS:
                raise _Exhausted(
                    f"the search tried {MAX_EXPANSIONS} method expansions without finding a plan "
                    f"(at {' > '.join((*path, task.name))})",
                    "alternatives that fail deep down are tried again at every level above them: give the "
                    "methods preconditions that rule a dead branch out early, or lower max_depth",
                )
            expansion = (self.serial, index)
            if not method.applies(state):
                reasons.append(f"{_where(method)}: preconditions do not hold ({_explain(method, state)})")
                continue
            snap, saved = self.snapshot(), copy.deepcopy(state)
            try:
                ids = self.expand(method.subtasks, method.effects, state, after, (*path, task.name), (*via, expansion))
            except _Dead as dead:
                self.rollback(snap)
                state.clear()
                state.update(saved)
                reasons.append(f"{_where(method)}: {dead}")
                deeper.append(dead)
                continue
            state.update(task.effects)
            return ids
        if len(reasons) == 1 and deeper:
            raise deeper[0]  # one way down, and it died further down: that is the reason, not this level
        raise _Dead(f"no method for '{task.name}' can be planned: " + "; ".join(reasons))

    def expand(
        self,
        subtasks: Sequence[Task],
        effects: Mapping[str, Any],
        state: dict[str, Any],
        after: tuple[str, ...],
        path: tuple[str, ...],
        via: tuple[tuple[int, int], ...],
    ) -> tuple[str, ...]:
        produced: dict[str, tuple[str, ...]] = {}
        everything: list[str] = []
        for sub in subtasks:
            waits = list(after)
            for name in sub.after:
                waits.extend(produced.get(name, ()))
            ids = self.plan(sub, state, tuple(dict.fromkeys(waits)), path, via)
            produced[sub.name] = produced.get(sub.name, ()) + ids
            everything.extend(ids)
        state.update(effects)
        return tuple(everything)


def plan(
    root: Task,
    methods: Sequence[Method],
    state: Mapping[str, Any] | None = None,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    resolved: Mapping[str, Sequence[Task]] | None = None,
) -> Plan:
    """Decompose ``root`` into primitives, depth first, in subtask order.

    ``resolved``: subtasks for frontier task names (from the LLM), used before any method.
    Raises PlanningError when the root cannot be planned by any alternative, or a search limit is hit.
    """
    search = _Search(methods, max_depth, resolved or {})
    working = copy.deepcopy(dict(state or {}))
    try:
        search.plan(root, working, (), ())
    except _Dead as dead:
        raise PlanningError(
            f"the HTN methods cannot plan '{root.name}': {dead}",
            hint="fix the methods or the planner_state; a task that expands into itself needs an alternative "
            "that stops (docs/coordinator.md)",
        ) from None
    except _Exhausted as exhausted:
        raise PlanningError(f"the HTN methods cannot plan '{root.name}': {exhausted}", hint=exhausted.hint) from None
    return Plan(tuple(search.tasks), tuple(search.frontiers), working)


def root_task(goal: str, methods: Sequence[Method], goal_task: str | None) -> tuple[Task, dict[str, Any]]:
    """The root task for ``goal`` and the facts taken from it.

    ``goal_task`` (per workflow) names it; else the first method whose ``match`` regex is found in
    the goal names it (its named groups become facts); else the goal text itself is the root task
    name (so a method whose task_pattern equals the goal applies, as in the original format).
    Every fact set includes ``goal``.
    """
    facts: dict[str, Any] = {"goal": goal}
    if goal_task:
        return Task(goal_task, "Compound"), facts
    for method in methods:
        if method.match is None:
            continue
        found = re.search(method.match, goal)
        if found is not None:
            facts.update({k: v for k, v in found.groupdict().items() if v is not None})
            return Task(method.task_pattern, "Compound"), facts
    return Task(goal, "Compound"), facts


def render(text: str, state: Mapping[str, Any]) -> str:
    """``{key}`` placeholders replaced by state values (unknown keys are left as written)."""
    return _PLACEHOLDER.sub(lambda m: str(state[m.group(1)]) if m.group(1) in state else m.group(0), text)


def _where(method: Method) -> str:
    return f"method '{method.task_pattern}'" + (f" (line {method.line})" if method.line else "")


def _explain(method: Method, state: Mapping[str, Any]) -> str:
    failing = [c for c in method.preconditions if not c.holds(state)]
    return ", ".join(f"{c.key} {c.op} {c.expected!r} (state: {state.get(c.key, '<unset>')!r})" for c in failing)
