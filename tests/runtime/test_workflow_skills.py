"""Skills inside workflow runs: reacts_to agents wait for their event, emits deposit on them in the same run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core import events as ev
from axocoatl.runtime.runtime import Runtime

from .support import assert_after, build_config, mock_agent, steps

CHAIN = {
    "skills": [
        {"id": "ask", "emits": ["topic_ready"], "agents": ["intake"]},
        {
            "id": "research",
            "reacts_to": ["topic_ready"],
            "emits": ["notes_ready"],
            "agents": ["researcher"],
            "prompt": "Research this.",
        },
        {"id": "write", "reacts_to": ["notes_ready"], "agents": ["writer"], "prompt": "Write it up."},
    ]
}


async def test_reacting_agents_wait_for_their_event_and_chain(make_runtime: Callable[..., Runtime], recording) -> None:
    config = build_config([mock_agent("intake"), mock_agent("researcher"), mock_agent("writer")], **CHAIN)
    async with make_runtime(config, providers={"mock": recording}) as rt:
        result = await rt.run_workflow("wf", "quantum dots")
        events = await rt.store.recent_events(run_id=result.run_id)
    assert result.status == "completed"
    by_id = steps(result)
    assert all(s.status == "completed" for s in by_id.values())
    assert recording.calls("intake") == recording.calls("researcher") == recording.calls("writer") == 1
    assert_after(result, "researcher", "intake")
    assert_after(result, "writer", "researcher")
    assert by_id["intake"].input == "quantum dots"
    # Woken by the event: the skill's prompt, then the emitter's output, then the task.
    assert (by_id["researcher"].input or "").startswith("Research this.\n\nPrevious agent outputs:\n[intake]: ")
    assert f"[researcher]: {by_id['researcher'].output}" in (by_id["writer"].input or "")
    assert result.final_output == by_id["writer"].output
    custom = [(e.agent_id, e.payload["name"]) for e in events if e.type == ev.CUSTOM]
    assert custom == [("intake", "topic_ready"), ("researcher", "notes_ready")]


async def test_an_event_nobody_emits_in_the_run_leaves_its_reactor_skipped(
    make_runtime: Callable[..., Runtime], recording
) -> None:
    # Validation refuses this config (responder can never run); the runtime still ends the run cleanly.
    config = AxocoatlConfig.model_validate(
        {
            "agents": [mock_agent("start"), mock_agent("responder")],
            "workflows": [{"id": "wf", "agents": ["start", "responder"], "entry_point": "start"}],
            "skills": [{"id": "alarm", "reacts_to": ["Alarm"], "agents": ["responder"]}],
        }
    )
    async with make_runtime(config, providers={"mock": recording}) as rt:
        result = await rt.run_workflow("wf", "hello")
    by_id = steps(result)
    assert by_id["start"].status == "completed"
    assert by_id["responder"].status == "skipped"
    assert "never activated" in (by_id["responder"].error or "")
    assert recording.calls("responder") == 0


async def test_an_event_stands_in_for_a_dependency_as_documented(make_runtime: Callable[..., Runtime]) -> None:
    # join depends on slow and fast (threshold 1.0); fast's event deposits 0.5 more, so
    # fast's completion (0.5) plus its event (0.5) fire join before slow finishes.
    config = build_config(
        [
            mock_agent("entry"),
            mock_agent("fast", ["entry"]),
            mock_agent("slow", ["entry"], options={"latency_ms": 400}),
            mock_agent("join", ["fast", "slow"]),
        ],
        skills=[
            {"id": "ping", "emits": ["ping"], "agents": ["fast"]},
            {"id": "hear", "reacts_to": ["ping"], "agents": ["join"]},
        ],
    )
    async with make_runtime(config) as rt:
        result = await rt.run_workflow("wf", "go")
    by_id = steps(result)
    assert result.status == "completed"
    assert by_id["join"].status == "completed"
    assert "[slow]" not in (by_id["join"].input or "")
    assert "[fast]" in (by_id["join"].input or "")


async def test_a_crashed_skill_chain_resumes_from_its_committed_steps(tmp_path: Path) -> None:
    config = build_config(
        [mock_agent("intake"), mock_agent("researcher"), mock_agent("writer", options={"fail": True})], **CHAIN
    )
    async with Runtime(config, data_dir=tmp_path / "d") as rt:
        failed = await rt.run_workflow("wf", "topic")
    assert failed.status == "failed"
    assert steps(failed)["writer"].status == "failed"
    fixed = config.model_copy(
        update={"agents": [a if a.id != "writer" else a.model_copy(update={"options": {}}) for a in config.agents]}
    )
    async with Runtime(fixed, data_dir=tmp_path / "d") as rt:
        async with asyncio.timeout(30):
            resumed = await rt.resume_run(failed.run_id)
    by_id = steps(resumed)
    assert resumed.status == "completed"
    assert by_id["intake"].attempts == by_id["researcher"].attempts == 1
    assert by_id["writer"].attempts == 2


@pytest.mark.slow
def test_cli_runs_a_skill_chain_inside_a_workflow(
    project: Callable[[str], Path], axocoatl_cli: Callable[..., Any]
) -> None:
    run_cli = axocoatl_cli
    directory = project(
        """\
        agents:
          - {id: intake, provider: mock, options: {reply: "topic: {input}"}}
          - {id: researcher, provider: mock, options: {reply: "notes"}}
          - {id: writer, provider: mock, options: {reply: "article"}}
        workflows:
          - id: pipeline
            agents: [intake, researcher, writer]
        skills:
          - {id: ask, emits: [topic_ready], agents: [intake]}
          - {id: research, reacts_to: [topic_ready], emits: [notes_ready], agents: [researcher]}
          - {id: write, reacts_to: [notes_ready], agents: [writer]}
        """
    )
    done = run_cli("workflow", "run", "pipeline", "-i", "bees", "--json", cwd=directory)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "completed"
    assert [s["agent_id"] for s in run["steps"] if s["status"] == "completed"] == ["intake", "researcher", "writer"]
    assert run["final_output"] == "article"
    validate = run_cli("validate", cwd=directory)
    assert validate.returncode == 0, validate.stdout + validate.stderr
