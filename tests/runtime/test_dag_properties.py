"""Property: any valid DAG runs each agent at most once, in topological order, with exact failure skips."""

from __future__ import annotations

import asyncio
import heapq
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axocoatl.runtime.runtime import Runtime
from axocoatl.store import RunRecord

from .support import build_config, mock_agent, steps

# Many short-lived databases: keep them in memory-backed storage when there is some.
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") else None


@dataclass(frozen=True)
class Scenario:
    deps: dict[str, list[str]]  # agent -> its depends_on, in config order
    fail: dict[str, str]  # failing agent -> "fail" (always) or "when" (fail_when matched by the task)
    decoy: frozenset[str]  # agents with a fail_when that the task never matches
    quorum: dict[str, int]  # agent -> how many of its dependencies fire it (activation_threshold)

    @property
    def agents(self) -> list[str]:
        return list(self.deps)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    size = draw(st.integers(1, 12))
    names = [f"n{i}" for i in range(size)]
    deps: dict[str, list[str]] = {}
    for index, name in enumerate(names):
        earlier = names[:index]
        chosen = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=4)) if earlier else []
        deps[name] = chosen
    failing = draw(st.lists(st.sampled_from(names), unique=True, max_size=3))
    fail = {name: draw(st.sampled_from(["fail", "when"])) for name in failing}
    decoy = draw(st.lists(st.sampled_from(names), unique=True, max_size=3))
    quorum = {}
    for name, chosen in deps.items():
        if len(chosen) >= 2 and draw(st.booleans()):
            quorum[name] = draw(st.integers(1, len(chosen) - 1))
    return Scenario(deps, fail, frozenset(d for d in decoy if d not in fail), quorum)


def marker(agent: str) -> str:
    return f"<BOOM:{agent}>"


def expected_statuses(s: Scenario) -> dict[str, str]:
    """An agent runs iff its quorum (default: all) of dependencies completed; config order is topological."""
    status: dict[str, str] = {}
    for agent, deps in s.deps.items():
        if sum(status[d] == "completed" for d in deps) < s.quorum.get(agent, len(deps)):
            status[agent] = "skipped"
        elif agent in s.fail:
            status[agent] = "failed"
        else:
            status[agent] = "completed"
    return status


def topological(s: Scenario) -> list[str]:
    """Producers before consumers, ties broken by config order (the documented final-output order)."""
    index = {a: i for i, a in enumerate(s.agents)}
    indegree = {a: len(set(d)) for a, d in s.deps.items()}
    dependents: dict[str, list[str]] = {a: [] for a in s.agents}
    for agent, deps in s.deps.items():
        for d in set(deps):
            dependents[d].append(agent)
    ready = [index[a] for a in s.agents if indegree[a] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        agent = s.agents[heapq.heappop(ready)]
        order.append(agent)
        for dependent in dependents[agent]:
            indegree[dependent] -= 1
            if indegree[dependent] == 0:
                heapq.heappush(ready, index[dependent])
    return order


def ancestors(s: Scenario, agent: str) -> set[str]:
    seen: set[str] = set()
    stack = list(s.deps[agent])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(s.deps[node])
    return seen


async def execute(s: Scenario, data_dir: Path, recording: Any) -> RunRecord:
    agents = []
    for agent, deps in s.deps.items():
        options: dict[str, object] = {}
        if s.fail.get(agent) == "fail":
            options["fail"] = True
        elif s.fail.get(agent) == "when" or agent in s.decoy:
            options["fail_when"] = marker(agent) if agent in s.fail else f"<NEVER:{agent}>"
        fields: dict[str, object] = {"activation_threshold": 0.5 * s.quorum[agent]} if agent in s.quorum else {}
        agents.append(mock_agent(agent, deps, options=options, **fields))
    config = build_config(agents, store={"synchronous": "normal"})
    task = "task " + " ".join(marker(a) for a, how in s.fail.items() if how == "when")
    async with Runtime(config, data_dir=data_dir, providers={"mock": recording}) as rt, asyncio.timeout(60):
        run = await rt.run_workflow("wf", task)
        stored = await rt.get_run(run.run_id)
    assert stored.to_json() == run.to_json(), "the stored run differs from the returned one"
    return run


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenarios())
def test_any_dag_runs_each_agent_once_in_topological_order(make_recording: Any, s: Scenario) -> None:
    recording = make_recording()  # the fixture is the class: a fresh provider per example
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        run = asyncio.run(execute(s, Path(tmp), recording))
    by_id = steps(run)
    expected = expected_statuses(s)
    assert {a: by_id[a].status for a in s.agents} == expected

    for agent, deps in s.deps.items():
        step = by_id[agent]
        ran = expected[agent] != "skipped"
        # At most once: one attempt and one model call for every agent that ran, none otherwise.
        assert step.attempts == (1 if ran else 0), agent
        assert recording.calls(agent) == (1 if ran else 0), agent
        if not ran:
            assert step.started_at is None and step.output is None
            # The reason names a failed agent upstream of it.
            reason = step.error or ""
            assert reason.startswith("upstream failed: "), reason
            culprit = reason.removeprefix("upstream failed: ")
            assert expected.get(culprit) == "failed" and culprit in ancestors(s, agent), reason
            continue
        assert step.started_at is not None and step.finished_at is not None
        assert step.finished_at >= step.started_at
        if agent not in s.quorum:
            for dep in deps:
                # No agent starts before every dependency completed, and it sees their outputs.
                assert step.started_at >= (by_id[dep].finished_at or float("inf")), (agent, dep)
                assert f"[{dep}]: {by_id[dep].output}" in (step.input or ""), (agent, dep)
        else:
            # A quorum fires once enough dependencies completed, with the outputs there were then.
            seen = [d for d in deps if by_id[d].output and f"[{d}]: {by_id[d].output}" in (step.input or "")]
            assert len(seen) >= s.quorum[agent], (agent, seen)
            for dep in seen:
                assert step.started_at >= (by_id[dep].finished_at or float("inf")), (agent, dep)
        if not deps:
            assert step.input == run.input
        if expected[agent] == "completed":
            assert step.output and step.error is None
        else:
            assert step.output is None and "asked to fail" in (step.error or "")

    failed = [a for a in s.agents if expected[a] == "failed"]
    if failed:
        assert run.status == "failed"
        assert run.error == f"{len(failed)} step(s) failed: {', '.join(failed)}"
    else:
        assert run.status == "completed"
        assert run.error is None
        assert all(by_id[a].status == "completed" for a in s.agents)
    has_dependents = {d for deps in s.deps.values() for d in deps}
    sinks = [a for a in topological(s) if a not in has_dependents and expected[a] == "completed"]
    if not sinks:
        assert run.final_output is None
    elif len(sinks) == 1:
        assert run.final_output == by_id[sinks[0]].output
    else:
        assert run.final_output == "\n\n".join(f"[{a}]: {by_id[a].output}" for a in sinks)
    assert run.finished_at is not None
    assert all(run.finished_at >= (st.finished_at or 0) for st in run.steps)
