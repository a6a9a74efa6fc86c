"""Edge conditions, router branches and map items (pure), and the lattice with conditional edges."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axocoatl.coordination.conditions import Condition, chosen_branch, map_items
from axocoatl.coordination.lattice import RunLattice
from axocoatl.core.graph import topological_order
from axocoatl.core.jsonpath import PathError, parse_path

from .test_lattice_properties import dags


@pytest.mark.parametrize(
    ("condition", "output", "holds"),
    [
        (Condition("contains", "billing"), "this is a billing question", True),
        (Condition("contains", "Billing"), "this is a billing question", False),
        (Condition("equals", "yes"), "  yes\n", True),
        (Condition("equals", "yes"), "yes please", False),
        (Condition("matches", r"(?i)^tech"), "Technical issue", True),
        (Condition("matches", r"^tech"), "a tech issue", False),
        (Condition("path", 0.5, path="$.score", op="gt"), '{"score": 0.9}', True),
        (Condition("path", 0.5, path="$.score", op="gt"), '{"score": 0.1}', False),
        (Condition("path", 0.5, path="$.score", op="gt"), '{"score": "high"}', False),
        (Condition("path", 0.5, path="$.score", op="gt"), "not json", False),
        (Condition("path", "ok", path="$.items[1].state", op="eq"), '{"items": [{}, {"state": "ok"}]}', True),
        (Condition("path", True, path="$.a", op="exists"), 'Here:\n```json\n{"a": null}\n```', True),
        (Condition("path", True, path="$.b", op="exists"), '{"a": 1}', False),
        (Condition("path", "x", path="$.tags", op="contains"), '{"tags": ["x", "y"]}', True),
        (Condition("path", 3, path="$", op="le"), "3", True),
        (Condition("path", 1, path="$.n", op="ne"), '{"n": 2}', True),
        (Condition("branch", "tech", branches=("billing", "tech")), "Tech.", True),
        (Condition("branch", "billing", branches=("billing", "tech")), "Tech.", False),
    ],
)
def test_condition_holds(condition: Condition, output: str, holds: bool) -> None:
    assert condition.holds(output) is holds
    assert Condition.from_json(condition.to_json()) == condition


def test_bad_conditions_are_refused() -> None:
    with pytest.raises(ValueError, match="not one of the router's branches"):
        Condition("branch", "other", branches=("a", "b"))
    with pytest.raises(PathError, match="must start with"):
        Condition("path", 1, path="score", op="eq")
    with pytest.raises(ValueError, match="needs a path"):
        Condition("path", 1)
    with pytest.raises(PathError, match="cannot read"):
        parse_path("$.a[x]")
    assert parse_path("$.a['b c'][2]") == ("a", "b c", 2)


@pytest.mark.parametrize(
    ("output", "branch"),
    [
        ("billing", "billing"),
        ("  `TECH`  ", "tech"),
        ('{"branch": "tech", "why": "billing is wrong"}', "tech"),
        ("I think tech, not billing", "tech"),
        ("both billing and tech", "billing"),
        ("biotech", None),
        ("nothing fits", None),
    ],
)
def test_chosen_branch(output: str, branch: str | None) -> None:
    assert chosen_branch(output, ["billing", "tech"]) == branch


def test_map_items_from_a_json_array_or_lines() -> None:
    assert map_items('["a", 2, {"k": 1}]') == ["a", "2", '{"k": 1}']
    assert map_items("one\n\n  two  \nthree\n") == ["one", "two", "three"]
    assert map_items('```json\n["x", "y"]\n```') == ["x", "y"]
    assert map_items("") == []


# ------------------------------------------------------------------------------ the lattice


def branch_lattice() -> RunLattice:
    # triage routes to billing or tech; reply joins both branches.
    route = ("billing", "tech")
    return RunLattice.for_workflow(
        ["triage", "billing", "tech", "reply"],
        {"billing": ["triage"], "tech": ["triage"], "reply": ["billing", "tech"]},
        None,
        conditions={
            "billing": {"triage": Condition("branch", "billing", branches=route)},
            "tech": {"triage": Condition("branch", "tech", branches=route)},
        },
    )


def test_branch_not_taken_is_skipped_and_the_join_counts_only_the_taken_one() -> None:
    lat = branch_lattice()
    assert lat.start(0.0).activated == ("triage",)
    step = lat.complete("triage", 1.0, "tech")
    assert step.activated == ("tech",)
    assert [a for a, _ in step.skipped] == ["billing"]
    assert lat.reason("billing") == 'condition: triage\'s output does not satisfy branch "billing"'
    assert lat.complete("tech", 2.0, "fixed").activated == ("reply",)
    assert lat.threshold("reply") == pytest.approx(0.5)


def test_no_branch_taken_skips_the_whole_downstream() -> None:
    lat = branch_lattice()
    lat.start(0.0)
    step = lat.complete("triage", 1.0, "neither")
    assert step.activated == ()
    assert dict(step.skipped) == {
        "billing": 'condition: triage\'s output does not satisfy branch "billing"',
        "tech": 'condition: triage\'s output does not satisfy branch "tech"',
        "reply": "condition: upstream billing was skipped",
    }
    assert lat.is_finished()


def test_a_conditional_edge_of_a_join_drops_out_when_false() -> None:
    # c depends on a (conditional) and b (plain): a's edge not taken, c fires on b alone.
    lat = RunLattice.for_workflow(
        ["a", "b", "c"], {"c": ["a", "b"]}, None, conditions={"c": {"a": Condition("contains", "go")}}
    )
    lat.start(0.0)
    assert lat.complete("a", 1.0, "stop").activated == ()
    assert lat.state("c") == "pending"
    assert lat.complete("b", 2.0, "x").activated == ("c",)


def test_rollback_restores_lowered_thresholds() -> None:
    lat = branch_lattice()
    lat.start(0.0)
    snap = lat.snapshot()
    lat.complete("triage", 1.0, "tech")
    lat.rollback(snap)
    assert lat.states()["billing"] == "pending" and lat.threshold("reply") == pytest.approx(1.0)
    assert lat.complete("triage", 1.0, "billing").activated == ("billing",)


def oracle(deps: Mapping[str, Sequence[str]], taken: Mapping[tuple[str, str], bool]) -> set[str]:
    """Brute force: a node completes when it is an entry or some completed dependency's edge is taken."""
    done: set[str] = set()
    for agent in topological_order(deps):
        if not deps[agent] or any(d in done and taken[(d, agent)] for d in deps[agent]):
            done.add(agent)
    return done


@settings(deadline=None, max_examples=150)
@given(deps=dags(), data=st.data())
def test_conditional_dags_run_exactly_the_taken_branches_in_any_order(
    deps: dict[str, list[str]], data: st.DataObject
) -> None:
    edges = [(d, a) for a, parents in deps.items() for d in parents]
    taken = {edge: data.draw(st.booleans()) for edge in edges}
    # Each edge's condition: the producer's output names the consumers it goes to.
    conditions: dict[str, dict[str, Condition]] = {}
    for (producer, consumer), _ in taken.items():
        conditions.setdefault(consumer, {})[producer] = Condition("contains", f"<{consumer}>")
    lat = RunLattice.for_workflow(list(deps), deps, None, conditions=conditions)
    active = list(lat.start(0.0).activated)
    completed: list[str] = []
    now = 0.0
    while active:
        agent = active.pop(data.draw(st.integers(0, len(active) - 1)))
        now += 1.0
        output = "".join(f"<{c}>" for (p, c), go in taken.items() if p == agent and go)
        step = lat.complete(agent, now, output)
        completed.append(agent)
        active.extend(step.activated)
        for skipped, reason in step.skipped:
            assert reason.startswith("condition: "), (skipped, reason)
    assert lat.is_finished()
    assert set(completed) == oracle(deps, taken)
    assert len(completed) == len(set(completed))
    states = lat.states()
    assert {a for a, s in states.items() if s == "skipped"} == set(deps) - set(completed)
    # A resumed lattice replaying the same completions reaches the same states.
    replay = RunLattice.for_workflow(list(deps), deps, None, conditions=conditions)
    replay.start(0.0)
    for at, agent in enumerate(completed, 1):
        output = "".join(f"<{c}>" for (p, c), go in taken.items() if p == agent and go)
        replay.restore_completed(agent, float(at), output)
    assert replay.states() == states


# ------------------------------------------------------------------------------ properties

_texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_names = st.from_regex(r"[a-z][a-z0-9_]{0,9}", fullmatch=True)


@settings(deadline=None, max_examples=200)
@given(items=st.lists(_texts, max_size=40))
def test_a_json_array_maps_to_its_elements_in_order(items: list[str]) -> None:
    import json

    assert map_items(json.dumps(items)) == items


@settings(deadline=None, max_examples=200)
@given(lines=st.lists(st.text(st.characters(blacklist_categories=("Cs", "Zl", "Zp", "Cc")), max_size=20), max_size=30))
def test_lines_map_to_the_non_empty_trimmed_lines(lines: list[str]) -> None:
    text = "\n".join(lines)
    items = map_items(text)
    expected = [line.strip() for line in text.splitlines() if line.strip()]
    if items != expected:  # the whole text happened to be a JSON array
        import json

        assert isinstance(json.loads(text.strip()), list)


@settings(deadline=None, max_examples=200)
@given(branches=st.lists(_names, min_size=1, max_size=6, unique=True), data=st.data())
def test_a_router_answering_a_branch_name_chooses_it(branches: list[str], data: st.DataObject) -> None:
    branch = data.draw(st.sampled_from(branches))
    decorated = data.draw(
        st.sampled_from([branch, branch.upper(), f" {branch}.", f"`{branch}`", f'{{"branch": "{branch}"}}'])
    )
    assert chosen_branch(decorated, branches) == branch
    for other in branches:
        assert Condition("branch", other, branches=tuple(branches)).holds(decorated) is (other == branch)


@settings(deadline=None, max_examples=200)
@given(value=st.one_of(st.integers(-100, 100), st.floats(-100, 100, allow_nan=False)), bound=st.integers(-100, 100))
def test_path_comparisons_agree_with_python(value: float, bound: int) -> None:
    import json
    import operator

    output = json.dumps({"x": {"y": [value]}})
    for op, fn in (
        ("gt", operator.gt),
        ("ge", operator.ge),
        ("lt", operator.lt),
        ("le", operator.le),
        ("eq", operator.eq),
        ("ne", operator.ne),
    ):
        assert Condition("path", bound, path="$.x.y[0]", op=op).holds(output) is fn(value, bound), op  # type: ignore[arg-type]
