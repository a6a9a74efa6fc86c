"""The HTN planner: the original methods format, globs, preconditions, alternatives, effects, after:, depth."""

from __future__ import annotations

import pytest

from axocoatl.coordination.htn import (
    MAX_EXPANSIONS,
    MAX_TASKS,
    Condition,
    Method,
    Task,
    parse_methods,
    plan,
    render,
    root_task,
)
from axocoatl.core.errors import ConfigError, PlanningError

ORIGINAL = """
- task_pattern: "write a report"
  preconditions:
    - key: mode
      expected: thorough
  subtasks:
    - name: research
      task_type: Primitive
      parameters: {description: Find sources, tools: [web_search]}
    - name: draft
      task_type: Primitive
      parameters: {description: Write the draft}
"""


def names(p: object) -> list[str]:
    return [t.name for t in p.tasks]  # type: ignore[attr-defined]


def test_the_original_format_loads_unchanged_and_preconditions_hold_over_the_state() -> None:
    methods = parse_methods(ORIGINAL, "methods.yaml")
    assert methods[0].line == 2
    root, facts = root_task("write a report", methods, None)
    result = plan(root, methods, {**facts, "mode": "thorough"})
    assert names(result) == ["research", "draft"]
    assert result.tasks[0].tools == ("web_search",)
    assert result.tasks[0].description == "Find sources"
    assert result.frontiers == ()
    # The precondition does not hold: no alternative, a clear error naming the method and the state.
    with pytest.raises(PlanningError, match=r"mode eq 'thorough' \(state: 'quick'\)"):
        plan(root, methods, {"mode": "quick"})


def test_a_goal_no_method_covers_is_one_llm_frontier() -> None:
    methods = parse_methods(ORIGINAL, "m.yaml")
    root, _ = root_task("something else", methods, None)
    result = plan(root, methods, {})
    assert result.tasks == () and [f.name for f in result.frontiers] == ["something else"]


METHODS = """
- task_pattern: report
  match: "^report on (?P<topic>.+)$"
  subtasks:
    - {name: gather, task_type: Compound}
    - {name: write, parameters: {description: "Write about {topic}"}, after: [gather]}
- task_pattern: gather
  preconditions: [{key: sources, op: ge, expected: 3}]
  subtasks:
    - {name: search_many, parameters: {tools: [web_search]}}
    - {name: search_more, parameters: {tools: [web_search]}}
- task_pattern: "gath*"
  preconditions: [{key: offline, op: exists}]
  effects: {gathered: offline}
  subtasks:
    - {name: read_files, parameters: {tools: [read_file]}, effects: {files_read: true}}
    - {name: summarize, task_type: Compound}
- task_pattern: summarize
  preconditions: [{key: files_read, expected: true}]
  subtasks:
    - {name: summarize_files}
"""


def test_match_regex_picks_the_root_and_its_groups_become_facts() -> None:
    methods = parse_methods(METHODS, "m.yaml")
    root, facts = root_task("report on tides", methods, None)
    assert root.name == "report" and facts == {"goal": "report on tides", "topic": "tides"}
    result = plan(root, methods, {**facts, "sources": 5})
    assert names(result) == ["search_many", "search_more", "write"]
    write = result.tasks[-1]
    assert write.description == "Write about tides"
    assert write.after == ("search_many", "search_more")
    assert write.path == ("report",)


def test_alternatives_are_tried_in_order_and_effects_feed_later_preconditions() -> None:
    methods = parse_methods(METHODS, "m.yaml")
    root, facts = root_task("report on tides", methods, None)
    # gather's first method needs sources >= 3; the glob alternative applies offline, and its
    # read_files effect makes summarize's precondition hold; the method's effect lands in the state.
    result = plan(root, methods, {**facts, "sources": 1, "offline": True})
    assert names(result) == ["read_files", "summarize_files", "write"]
    assert result.state["gathered"] == "offline"
    assert result.tasks[-1].after == ("read_files", "summarize_files")


def test_backtracking_restores_the_state_when_a_branch_dies() -> None:
    methods = [
        Method("root", (Task("a", "Compound"),)),
        Method("a", (Task("set", effects={"x": 1}), Task("dead", "Compound")), line=10),
        Method("a", (Task("fine"),), line=20),
        Method("dead", (Task("never"),), (Condition("x", 2),)),
    ]
    result = plan(Task("root", "Compound"), methods, {})
    assert names(result) == ["fine"]
    assert "x" not in result.state  # the abandoned branch's effect was rolled back


def test_goal_task_names_the_root() -> None:
    methods = parse_methods(METHODS, "m.yaml")
    root, facts = root_task("anything at all", methods, "summarize")
    assert root.name == "summarize"
    assert names(plan(root, methods, {**facts, "files_read": True})) == ["summarize_files"]


def test_self_recursion_is_stopped_by_the_depth_guard_and_an_alternative_wins() -> None:
    methods = [
        Method("loop", (Task("loop", "Compound"),)),
        Method("loop", (Task("leaf"),)),
    ]
    # The first method recurses until the guard; each level then falls back to the leaf.
    assert names(plan(Task("loop", "Compound"), methods, {}, max_depth=4)) == ["leaf"]
    with pytest.raises(PlanningError, match=r"depth guard \(3 levels\).*loop > loop > loop > loop"):
        plan(Task("loop", "Compound"), methods[:1], {}, max_depth=3)


def test_a_method_that_doubles_itself_stops_at_the_plan_size_limit() -> None:
    methods = [
        Method("t", (Task("t", "Compound"), Task("t", "Compound"))),
        Method("t", (Task("leaf"),)),
    ]
    # Each level backtracks to the leaf, but two copies per level make 2**15 leaves at the default depth.
    with pytest.raises(PlanningError, match=rf"grew past {MAX_TASKS} subtasks") as caught:
        plan(Task("t", "Compound"), methods, {})
    assert "precondition or an effect that stops the recursion" in (caught.value.hint or "")
    assert len(plan(Task("t", "Compound"), methods, {}, max_depth=6).tasks) == 2**5  # small enough: planned


def test_alternatives_dying_deep_down_stop_at_the_search_limit() -> None:
    methods = [
        Method("t", (Task("t", "Compound"), Task("t", "Compound"), Task("t", "Compound"), Task("never", "Compound"))),
        Method("t", (Task("leaf"),)),
        Method("never", (Task("q"),), (Condition("x", 1),)),
    ]
    # The first alternative always dies at 'never', after planning three copies of itself: 3**depth tries.
    with pytest.raises(PlanningError, match=rf"tried {MAX_EXPANSIONS} method expansions"):
        plan(Task("t", "Compound"), methods, {})
    assert names(plan(Task("t", "Compound"), methods, {}, max_depth=4)) == ["leaf"]


def test_repeated_names_get_unique_ids_and_resolved_frontiers_replace_them() -> None:
    methods = [Method("r", (Task("x"), Task("x"), Task("open", "Compound")))]
    first = plan(Task("r", "Compound"), methods, {})
    assert [t.id for t in first.tasks] == ["x", "x#2"]
    assert [f.name for f in first.frontiers] == ["open"]
    second = plan(Task("r", "Compound"), methods, {}, resolved={"open": [Task("o1"), Task("o2", after=("o1",))]})
    assert [t.id for t in second.tasks] == ["x", "x#2", "o1", "o2"]
    assert second.tasks[-1].after == ("o1",) and second.frontiers == ()


@pytest.mark.parametrize(
    ("op", "expected", "value", "holds"),
    [
        ("ne", "a", "b", True),
        ("lt", 3, 2, True),
        ("le", 3, 4, False),
        ("gt", 3, 4, True),
        ("ge", 3, "x", False),  # a string against a number: does not hold (no crash)
        ("in", ["a", "b"], "b", True),
        ("not_in", ["a"], "a", False),
        ("contains", "ti", "tides", True),
        ("matches", "^t.d", "tides", True),
    ],
)
def test_operators(op: str, expected: object, value: object, holds: bool) -> None:
    assert Condition("k", expected, op).holds({"k": value}) is holds


def test_missing_keys() -> None:
    assert Condition("k", None, "absent").holds({}) and not Condition("k", None, "exists").holds({})
    assert Condition("k", 1, "ne").holds({}) and not Condition("k", 1, "eq").holds({})


def test_render_leaves_unknown_placeholders() -> None:
    assert render("{a} and {b}", {"a": 1}) == "1 and {b}"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("- task_pattern: x\n  subtasks: []\n", 2, "non-empty list of subtasks"),
        ("- task_pattern: x\n  subtask: [{name: a}]\n", 2, "unknown key 'subtask'"),
        ("- task_pattern: x\n  subtasks:\n    - {name: a, task_type: Atomic}\n", 3, "unknown task_type 'Atomic'"),
        (
            "- task_pattern: x\n  preconditions:\n    - {key: a, op: approx, expected: 1}\n  subtasks: [{name: a}]\n",
            3,
            "unknown operator 'approx'",
        ),
        ("- task_pattern: x\n  subtasks:\n    - {name: a, after: [b]}\n    - {name: b}\n", 3, "comes later"),
        ("- task_pattern: x\n  subtasks:\n    - {name: a, after: [zz]}\n", 3, "'zz' is not an earlier subtask"),
        ("- task_pattern: x\n  match: '(('\n  subtasks: [{name: a}]\n", 2, "not a valid regular expression"),
        ("- subtasks: [{name: a}]\n", 1, "task_pattern is required"),
        ("task_pattern: x\n", 1, "must be a list of methods"),
        ("- task_pattern: [x\n", 2, "not valid YAML"),
    ],
)
def test_methods_file_errors_name_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_methods(text, "team/methods.yaml")
    issue = caught.value.issues[0]
    assert issue.file == "team/methods.yaml" and issue.line == line, caught.value
    assert message in issue.message and issue.hint


def test_every_problem_is_reported_at_once() -> None:
    text = "- task_pattern: x\n  subtasks: []\n- task_pattern: y\n  bogus: 1\n  subtasks: [{name: a}]\n"
    with pytest.raises(ConfigError) as caught:
        parse_methods(text, "m.yaml")
    assert [i.line for i in caught.value.issues] == [2, 4]


def test_after_errors_point_at_their_own_subtask_when_an_earlier_one_does_not_parse() -> None:
    text = (
        "- task_pattern: x\n  subtasks:\n"
        "    - {name: a, task_type: Atomic}\n"  # line 3: does not parse
        "    - {name: b, after: [c]}\n"  # line 4: c comes later
        "    - {name: c, after: [zz]}\n"  # line 5: zz is no subtask
        "  name: a label\n"  # line 6: methods have no name (it was accepted and ignored)
    )
    with pytest.raises(ConfigError) as caught:
        parse_methods(text, "m.yaml")
    found = [(i.line, i.path, i.message) for i in caught.value.issues]
    assert found == [
        (6, "[0].name", "unknown key 'name' in a method"),
        (3, "[0].subtasks[0].task_type", "unknown task_type 'Atomic'"),
        (4, "[0].subtasks[1].after", "'c' comes later in this method; a subtask can only wait for earlier ones"),
        (5, "[0].subtasks[2].after", "'zz' is not an earlier subtask of this method"),
    ]
    assert caught.value.issues[3].hint == "after: names subtasks listed before it: ['b']"


def test_methods_round_trip_through_json() -> None:
    methods = parse_methods(METHODS, "m.yaml")
    assert [Method.from_json(m.to_json()) for m in methods] == methods
