"""Conditional edges and router agents through the Runtime API, and their validation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import yaml

from axocoatl.config.loader import parse_config_text
from axocoatl.config.validation import validate_config
from axocoatl.core.errors import ConfigError
from axocoatl.runtime.runtime import Runtime

from .support import build_config, mock_agent, steps

GUARD = 60


def support_desk(route: str) -> list[dict[str, object]]:
    return [
        mock_agent("triage", options={"reply": route}, branches=["billing", "tech"]),
        mock_agent("billing", ["triage"], when={"triage": {"branch": "billing"}}),
        mock_agent("tech", ["triage"], when={"triage": {"branch": "tech"}}),
        mock_agent("reply", ["billing", "tech"]),
    ]


async def test_router_takes_one_branch_and_the_join_waits_only_for_it(
    make_runtime: Callable[..., Runtime],
    recording,  # type: ignore[no-untyped-def]
) -> None:
    async with make_runtime(build_config(support_desk("Tech")), providers={"mock": recording}) as rt:
        async with asyncio.timeout(GUARD):
            run = await rt.run_workflow("wf", "my screen is black")
    by_id = steps(run)
    assert run.status == "completed", run.error
    assert {a: s.status for a, s in by_id.items()} == {
        "triage": "completed",
        "billing": "skipped",
        "tech": "completed",
        "reply": "completed",
    }
    assert by_id["billing"].error == 'condition: triage\'s output does not satisfy branch "billing"'
    assert recording.calls("billing") == 0
    assert "Choose exactly one branch for this task: billing, tech" in (by_id["triage"].input or "")
    assert "[tech]:" in (by_id["reply"].input or "") and "[billing]:" not in (by_id["reply"].input or "")
    assert run.final_output == by_id["reply"].output


async def test_no_branch_taken_skips_the_rest_and_the_run_completes(make_runtime: Callable[..., Runtime]) -> None:
    async with make_runtime(build_config(support_desk("no idea"))) as rt:
        run = await rt.run_workflow("wf", "?")
    assert run.status == "completed"
    assert [s.status for s in run.steps] == ["completed", "skipped", "skipped", "skipped"]
    assert steps(run)["reply"].error == "condition: upstream billing was skipped"
    assert run.final_output is None


@pytest.mark.parametrize(
    ("condition", "runs"),
    [
        ({"contains": "urgent"}, True),
        ({"contains": "calm"}, False),
        ({"equals": '{"level": 3, "tags": ["urgent"]}'}, True),
        ({"matches": r"level.: \d"}, True),
        ({"path": "$.level", "ge": 3}, True),
        ({"path": "$.level", "lt": 3}, False),
        ({"path": "$.tags", "contains": "urgent"}, True),
        ({"path": "$.owner", "exists": True}, False),
    ],
)
async def test_text_and_json_path_conditions(
    make_runtime: Callable[..., Runtime], condition: dict[str, object], runs: bool
) -> None:
    agents = [
        mock_agent("scan", options={"reply": '{"level": 3, "tags": ["urgent"]}'}),
        mock_agent("escalate", ["scan"], when={"scan": condition}),
    ]
    async with make_runtime(build_config(agents)) as rt:
        run = await rt.run_workflow("wf", "x")
    assert run.status == "completed"
    assert steps(run)["escalate"].status == ("completed" if runs else "skipped")


async def test_a_resumed_run_keeps_the_branch_decisions(make_runtime: Callable[..., Runtime]) -> None:
    agents = support_desk("billing")
    agents[3] = mock_agent("reply", ["billing", "tech"], options={"fail_when": "Previous"})
    async with make_runtime(build_config(agents)) as rt:
        first = await rt.run_workflow("wf", "refund")
        assert first.status == "failed"
    fixed = support_desk("billing")
    async with make_runtime(build_config(fixed)) as rt:
        resumed = await rt.resume_run(first.run_id)
    assert resumed.status == "completed"
    assert [s.status for s in resumed.steps] == ["completed", "completed", "skipped", "completed"]
    assert [s.attempts for s in resumed.steps] == [1, 1, 0, 2]


def issues(agents: list[dict[str, object]]) -> list[str]:
    data = {"agents": agents, "workflows": [{"id": "wf", "agents": [a["id"] for a in agents]}]}
    text = yaml.safe_dump(data, sort_keys=False)
    try:
        loaded = parse_config_text(text, file="t.yaml", env={})
    except ConfigError as exc:
        return [f"{i.path}: {i.message} ({i.hint})" for i in exc.issues]
    return [f"{i.path}: {i.message} ({i.hint})" for i in validate_config(loaded.config, loaded.source)]


def test_validation_catches_conditions_on_unknown_branches_and_bad_tests() -> None:
    agents = support_desk("x")
    agents[1] = mock_agent("billing", ["triage"], when={"triage": {"branch": "biling"}})
    found = issues(agents)
    assert any("unknown branch 'biling': router 'triage' has billing, tech" in i and "billing" in i for i in found)

    agents = support_desk("x")
    agents[0] = mock_agent("triage")  # not a router any more
    assert any("'triage' has no branches" in i for i in issues(agents))

    agents = support_desk("x")
    agents[3] = mock_agent("reply", ["billing"], when={"tech": {"contains": "x"}})
    assert any("when: 'tech' is not in the depends_on of 'reply'" in i for i in issues(agents))

    agents = [mock_agent("a"), mock_agent("b", ["a"], when={"a": {"matches": "("}})]
    assert any("invalid regular expression" in i for i in issues(agents))
    agents = [mock_agent("a"), mock_agent("b", ["a"], when={"a": {"path": "score", "eq": 1}})]
    assert any("must start with '$'" in i for i in issues(agents))
    agents = [mock_agent("a"), mock_agent("b", ["a"], when={"a": {"contains": "x", "equals": "y"}})]
    assert any("exactly one of contains, equals, matches, path, branch" in i for i in issues(agents))
    agents = [mock_agent("a"), mock_agent("b", ["a"], when={"a": {"path": "$.x"}})]
    assert any("needs exactly one of eq, ne" in i for i in issues(agents))
    assert issues(support_desk("x")) == []
