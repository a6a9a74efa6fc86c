"""Property tests of the HTN planner on random method sets: preconditions hold, order holds, it terminates."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from axocoatl.coordination.htn import DEFAULT_MAX_DEPTH, MAX_TASKS, Condition, Method, Plan, Task, plan
from axocoatl.core.errors import PlanningError

NAMES = ["t0", "t1", "t2", "t3"]
KEYS = ["k0", "k1", "k2"]


@st.composite
def method_sets(draw: st.DrawFn) -> list[Method]:
    """Random methods over a few compound names (recursion included) with primitive effects."""
    methods = []
    for _ in range(draw(st.integers(1, 7))):
        pattern = draw(st.sampled_from([*NAMES, "t*"]))
        conditions = tuple(
            Condition(draw(st.sampled_from(KEYS)), draw(st.integers(0, 1)), draw(st.sampled_from(["eq", "ne"])))
            for _ in range(draw(st.integers(0, 2)))
        )
        subtasks = []
        for position in range(draw(st.integers(1, 3))):
            if draw(st.booleans()):
                subtasks.append(Task(draw(st.sampled_from(NAMES)), "Compound"))
            else:
                effects = {draw(st.sampled_from(KEYS)): draw(st.integers(0, 1))} if draw(st.booleans()) else {}
                earlier = [s.name for s in subtasks]
                after = tuple(draw(st.lists(st.sampled_from(earlier), unique=True))) if earlier else ()
                subtasks.append(Task(f"p{position}", "Primitive", {"tools": []}, after, effects))
        methods.append(Method(pattern, tuple(subtasks), conditions))
    return methods


states = st.fixed_dictionaries({}, optional={k: st.integers(0, 1) for k in KEYS})


def replay(result: Plan, methods: list[Method], initial: dict[str, Any]) -> None:
    """Walk the plan in order: each method expansion's preconditions held when its first task was planned."""
    state = dict(initial)
    checked: set[int] = set()
    for task in result.tasks:
        for serial, index in task.via:
            if serial not in checked:
                checked.add(serial)
                method = methods[index]
                assert method.applies(state), (method, state)
        primitive = next(s for m in methods for s in m.subtasks if s.name == task.name)
        # primitives of one name may differ between methods: take the effects from the method that made it
        origin = methods[task.via[-1][1]] if task.via else None
        if origin is not None:
            primitive = next(s for s in origin.subtasks if s.name == task.name)
        state.update(primitive.effects)


@settings(deadline=None, max_examples=300)
@given(method_sets(), states, st.integers(1, 6))
def test_plans_respect_preconditions_and_order_and_planning_terminates(
    methods: list[Method], state: dict[str, Any], depth: int
) -> None:
    try:
        result = plan(Task("t0", "Compound"), methods, state, max_depth=depth)
    except PlanningError as exc:
        assert "t0" in str(exc)
        return
    ids = [t.id for t in result.tasks]
    assert len(ids) == len(set(ids))
    seen: set[str] = set()
    for task in result.tasks:
        assert set(task.after) <= seen, f"{task.id} waits for a task planned after it"
        assert len(task.path) <= depth
        seen.add(task.id)
    replay(result, methods, state)
    # every frontier is a compound no method pattern covers
    for frontier in result.frontiers:
        assert not any(m.covers(frontier.name) for m in methods)


@settings(deadline=None, max_examples=60)
@given(method_sets(), states)
def test_at_the_default_depth_planning_ends_within_its_limits(methods: list[Method], state: dict[str, Any]) -> None:
    """Recursive sets explode exponentially at depth 16 without the plan-size and search limits."""
    try:
        result = plan(Task("t0", "Compound"), methods, state, max_depth=DEFAULT_MAX_DEPTH)
    except PlanningError as exc:
        assert "t0" in str(exc)
        return
    assert len(result.tasks) <= MAX_TASKS
    replay(result, methods, state)


@settings(deadline=None, max_examples=100)
@given(method_sets(), states)
def test_planning_is_deterministic(methods: list[Method], state: dict[str, Any]) -> None:
    def once() -> object:
        try:
            return plan(Task("t0", "Compound"), methods, state, max_depth=4)
        except PlanningError as exc:
            return str(exc)

    assert once() == once()
