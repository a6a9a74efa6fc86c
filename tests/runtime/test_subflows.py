"""Sub-workflows through the Runtime API: child runs linked to their parent, nesting, waiting, resuming."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import yaml

from axocoatl.config.loader import parse_config_text
from axocoatl.config.schema import AxocoatlConfig
from axocoatl.config.validation import validate_config
from axocoatl.runtime.runtime import Runtime

from .support import mock_agent, steps

GUARD = 60


def config(agents: list[dict[str, Any]], workflows: list[dict[str, Any]]) -> AxocoatlConfig:
    text = yaml.safe_dump({"agents": agents, "workflows": workflows}, sort_keys=False)
    return parse_config_text(text, file="t.yaml", env={}).config


def nested(**inner_fields: Any) -> AxocoatlConfig:
    agents = [
        mock_agent("plan", options={"reply": "plan for {input_head}"}),
        {"id": "research", "workflow": "inner", "depends_on": ["plan"]},
        mock_agent("write", ["research"]),
        mock_agent("dig", options={"reply": "dug {input_head}"}),
        mock_agent("sum", ["dig"], **inner_fields),
        {"id": "deeper", "workflow": "leaf"},
        mock_agent("leafy", options={"reply": "leaf {input_head}"}),
    ]
    workflows = [
        {"id": "outer", "agents": ["plan", "research", "write"]},
        {"id": "inner", "agents": ["dig", "sum"]},
        {"id": "leaf", "agents": ["leafy"]},
        {"id": "two", "agents": ["deeper"]},
    ]
    return config(agents, workflows)


async def test_a_step_runs_a_child_run_whose_output_is_the_steps(
    make_runtime: Callable[..., Runtime],
    recording,  # type: ignore[no-untyped-def]
) -> None:
    async with make_runtime(nested(), providers={"mock": recording}) as rt:
        async with asyncio.timeout(GUARD):
            parent = await rt.run_workflow("outer", "the topic")
        assert parent.status == "completed", parent.error
        child = await rt.store.child_run(parent.run_id, "research")
    assert child is not None
    assert (child.parent_run_id, child.parent_step, child.relation, child.depth) == (
        parent.run_id,
        "research",
        "child",
        1,
    )
    assert child.workflow_id == "inner" and child.status == "completed"
    assert child.input == steps(parent)["research"].input
    assert steps(parent)["research"].output == child.final_output
    assert f"[research]: {child.final_output}" in (steps(parent)["write"].input or "")
    assert child.trigger == f"parent:{parent.run_id}"
    assert {a: recording.calls(a) for a in ("plan", "dig", "sum", "write")} == dict.fromkeys(
        ("plan", "dig", "sum", "write"), 1
    )


async def test_a_waiting_child_makes_the_parent_wait_and_an_answer_to_the_parent_reaches_it(
    make_runtime: Callable[..., Runtime],
) -> None:
    async with make_runtime(nested(interrupt={"when": "before", "question": "Dig deeper?"})) as rt:
        parent = await rt.run_workflow("outer", "x")
        assert parent.status == "waiting"
        research = steps(parent)["research"]
        child = await rt.store.child_run(parent.run_id, "research")
        assert child is not None and child.status == "waiting"
        assert research.status == "waiting"
        assert research.question == f"child run {child.run_id} (inner) asks at sum: Dig deeper?"
        _, task = await rt.start_answer(parent.run_id, "yes")
        done = await task
        child = await rt.get_run(child.run_id)
    assert done.status == "completed", done.error
    assert steps(child)["sum"].answer == "yes"
    assert steps(done)["research"].output == child.final_output
    assert len([r for r in await _runs(make_runtime) if r.relation == "child"]) == 1  # taken up, not restarted


async def _runs(make_runtime: Callable[..., Runtime]) -> list[Any]:
    async with make_runtime(nested()) as rt:
        return await rt.store.list_runs()


async def test_answering_the_child_directly_wakes_the_parent(make_runtime: Callable[..., Runtime]) -> None:
    async with make_runtime(nested(interrupt="after")) as rt:
        parent = await rt.run_workflow("outer", "x")
        child = await rt.store.child_run(parent.run_id, "research")
        assert child is not None
        _, task = await rt.start_answer(child.run_id, "fine")
        assert (await task).status == "completed"
        for _ in range(500):
            if (await rt.get_run(parent.run_id)).status == "completed":
                break
            await asyncio.sleep(0.01)
        assert (await rt.get_run(parent.run_id)).status == "completed"


async def test_a_failed_child_fails_the_step_and_a_retry_takes_the_child_up(
    make_runtime: Callable[..., Runtime],
) -> None:
    async with make_runtime(nested(options={"fail_when": "dug"})) as rt:
        parent = await rt.run_workflow("outer", "x")
    assert parent.status == "failed"
    error = steps(parent)["research"].error or ""
    assert error.startswith("child run ") and "(inner) failed: 1 step(s) failed: sum" in error
    async with make_runtime(nested()) as rt:
        retried = await rt.resume_run(parent.run_id)
        child = await rt.store.child_run(parent.run_id, "research")
    assert retried.status == "completed"
    assert child is not None and child.status == "completed"
    assert [s.attempts for s in child.steps] == [1, 2]  # dig kept, sum retried


async def test_depth_guard(make_runtime: Callable[..., Runtime]) -> None:
    # A chain of workflows each running the next, deeper than the limit.
    agents = [mock_agent("bottom")]
    workflows = [{"id": "w9", "agents": ["bottom"]}]
    for level in range(8, -1, -1):
        agents.append({"id": f"s{level}", "workflow": f"w{level + 1}"})
        workflows.append({"id": f"w{level}", "agents": [f"s{level}"]})
    async with make_runtime(config(agents, workflows)) as rt:
        top = await rt.run_workflow("w0", "x")
        assert top.status == "failed"
        deepest = [r for r in await rt.store.list_runs(limit=100) if r.depth == 8]
    assert len(deepest) == 1
    assert "would nest 9 runs deep; the limit is 8" in (deepest[0].steps[0].error or "")


def test_validation_of_sub_workflows() -> None:
    from .test_conditions import issues

    found = issues([{"id": "s", "workflow": "nowhere"}])
    assert any("workflow 'nowhere' is not a workflow" in i for i in found), found
    # A step's own model settings would never be read: validate says so, naming each key.
    step = {"id": "s", "workflow": "inner", "provider": "mock", "system_prompt": "hi", "options": {"reply": "x"}}
    text = yaml.safe_dump(
        {
            "agents": [step, {"id": "i", "provider": "mock"}],
            "workflows": [{"id": "outer", "agents": ["s"]}, {"id": "inner", "agents": ["i"]}],
        }
    )
    loaded = parse_config_text(text, file="t.yaml", env={})
    warned = [(i.path, i.message) for i in validate_config(loaded.config, loaded.source)]
    for key in ("provider", "system_prompt", "options"):
        assert (
            f"agents[s].{key}",
            f"{key} has no effect: 's' runs workflow 'inner' and makes no model call or tool call of its own",
        ) in warned, warned
    assert len(warned) == 3, warned
    text = yaml.safe_dump(
        {
            "agents": [{"id": "a", "workflow": "wb"}, {"id": "b", "workflow": "wa"}],
            "workflows": [{"id": "wa", "agents": ["a"]}, {"id": "wb", "agents": ["b"]}],
        }
    )
    try:
        parse_config_text(text, file="t.yaml", env={})
    except Exception as exc:
        assert "sub-workflow cycle: wa -> wb -> wa" in str(exc)
    else:
        raise AssertionError("a sub-workflow cycle was accepted")
