"""Scenario configs through the CLI contract: DAG shapes, failing agents, broken configs."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from axocoatl.cli.main import app


def agents_yaml(deps: dict[str, list[str]], **options: dict[str, Any]) -> str:
    lines = ["agents:"]
    for agent, depends_on in deps.items():
        lines += [f"  - id: {agent}", "    provider: mock"]
        if depends_on:
            lines.append(f"    depends_on: [{', '.join(depends_on)}]")
        if agent in options:
            lines.append(f"    options: {json.dumps(options[agent])}")
    lines += ["workflows:", "  - id: wf", f"    agents: [{', '.join(deps)}]"]
    return "\n".join(lines) + "\n"


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def run_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AXOCOATL_EMBEDDER", "hashed")
    config = tmp_path / "axocoatl.yaml"

    def run(yaml_text: str, task: str = "scenario task") -> tuple[int, dict[str, Any]]:
        config.write_text(yaml_text)
        args = ["--config", str(config), "--data-dir", str(tmp_path / "data"), "workflow", "run", "wf", "-i", task]
        result = CliRunner().invoke(app, [*args, "--json"], catch_exceptions=False)
        return result.exit_code, json.loads(result.stdout)

    return run


def check_order(run: dict[str, Any], deps: dict[str, list[str]]) -> None:
    """Each agent that ran started after all its dependencies finished and saw their outputs."""
    by_id = {s["agent_id"]: s for s in run["steps"]}
    for agent, depends_on in deps.items():
        step = by_id[agent]
        if step["started_at"] is None:
            continue
        for dep in depends_on:
            assert by_id[dep]["status"] == "completed"
            assert ts(step["started_at"]) >= ts(by_id[dep]["finished_at"]), (agent, dep)
            assert f"[{dep}]: {by_id[dep]['output']}" in step["input"]


SHAPES = {
    "chain": {"a": [], "b": ["a"], "c": ["b"], "d": ["c"], "e": ["d"]},
    "diamond": {"top": [], "left": ["top"], "right": ["top"], "bottom": ["left", "right"]},
    "join": {"x": [], "y": [], "z": [], "all": ["x", "y", "z"]},
    "wide": {"root": [], **{f"w{i}": ["root"] for i in range(20)}, "sink": [f"w{i}" for i in range(20)]},
    "two-sinks": {"a": [], "b": ["a"], "c": ["a"]},
}


@pytest.mark.parametrize("shape", SHAPES)
def test_dag_shapes_run_each_agent_once_in_order(run_json: Any, shape: str) -> None:
    deps = SHAPES[shape]
    code, run = run_json(agents_yaml(deps))
    assert code == 0
    assert run["status"] == "completed" and run["error"] is None
    assert [s["agent_id"] for s in run["steps"]] == list(deps)
    assert all(s["status"] == "completed" and s["attempts"] == 1 for s in run["steps"])
    check_order(run, deps)
    sinks = [a for a in deps if not any(a in d for d in deps.values())]
    by_id = {s["agent_id"]: s for s in run["steps"]}
    if len(sinks) == 1:
        assert run["final_output"] == by_id[sinks[0]]["output"]
    else:
        assert run["final_output"] == "\n\n".join(f"[{a}]: {by_id[a]['output']}" for a in sinks)


def test_quorum_fires_on_two_of_three(run_json: Any) -> None:
    text = agents_yaml({"a": [], "b": [], "c": [], "q": ["a", "b", "c"]}, c={"fail": True})
    text = text.replace("    depends_on: [a, b, c]", "    depends_on: [a, b, c]\n    activation_threshold: 1.0")
    code, run = run_json(text)
    by_id = {s["agent_id"]: s for s in run["steps"]}
    assert code == 1  # c failed
    assert by_id["q"]["status"] == "completed" and by_id["q"]["attempts"] == 1
    assert "[a]:" in by_id["q"]["input"] and "[b]:" in by_id["q"]["input"]


def test_failing_agent_skips_dependents_keeps_the_rest(run_json: Any) -> None:
    deps = {"a": [], "bad": ["a"], "after": ["bad"], "ok": ["a"], "ok2": ["ok"]}
    code, run = run_json(agents_yaml(deps, bad={"fail_when": "scenario"}))
    assert code == 1
    by_id = {s["agent_id"]: s for s in run["steps"]}
    assert run["status"] == "failed" and "bad" in run["error"]
    assert by_id["bad"]["status"] == "failed" and by_id["bad"]["error"]
    assert by_id["after"]["status"] == "skipped"
    assert by_id["after"]["error"] == "upstream failed: bad" and by_id["after"]["attempts"] == 0
    assert by_id["ok2"]["status"] == "completed"
    assert run["final_output"] == by_id["ok2"]["output"]
    assert run["finished_at"] is not None
    check_order(run, deps)


def test_rate_limited_and_auth_failures_are_reported_per_step(run_json: Any) -> None:
    deps = {"limited": [], "denied": []}
    code, run = run_json(
        agents_yaml(deps, limited={"fail": True, "fail_with": "rate_limit"}, denied={"fail": True, "fail_with": "auth"})
    )
    assert code == 1
    errors = {s["agent_id"]: s["error"] for s in run["steps"]}
    assert "rate limited" in errors["limited"]
    assert "authentication failed" in errors["denied"]


BROKEN = {
    "unknown dependency": (
        "agents:\n  - id: a\n    provider: mock\n    depends_on: [ghost]\n",
        r":4: agents\[a\]\.depends_on\[0\]: .*ghost",
    ),
    "cycle": (
        "agents:\n  - id: s\n    provider: mock\n  - id: a\n    provider: mock\n    depends_on: [b]\n"
        "  - id: b\n    provider: mock\n    depends_on: [a]\n",
        r":\d+: agents\[[ab]\]\.depends_on.*cycle",
    ),
    "duplicate id": (
        "agents:\n  - id: a\n    provider: mock\n  - id: a\n    provider: mock\n",
        r":4: agents\[a\]\.id: duplicate agent id 'a' \(first defined on line 2\)",
    ),
    "unknown workflow agent": (
        "agents:\n  - id: a\n    provider: mock\nworkflows:\n  - id: wf\n    agents: [a, b]\n",
        r":6: workflows\[wf\]\.agents\[1\]: .*'b'",
    ),
    "bad entry point": (
        "agents:\n  - id: a\n    provider: mock\nworkflows:\n  - id: wf\n    agents: [a]\n    entry_point: zz\n",
        r":7: workflows\[wf\]\.entry_point: entry_point 'zz' is not an agent",
    ),
    "unreachable threshold": (
        "agents:\n  - id: a\n    provider: mock\n  - id: q\n    provider: mock\n    depends_on: [a]\n"
        "    activation_threshold: 5\n",
        r":7: agents\[q\]\.activation_threshold: .*can never be reached",
    ),
    "typo in a key": (
        "agents:\n  - id: a\n    provider: mock\n    sytem_prompt: hi\n",
        r":4: agents\[a\]\.sytem_prompt: unknown key .*did you mean 'system_prompt'",
    ),
    "bad mock option": (
        "agents:\n  - id: a\n    provider: mock\n    options: {latency_ms: -5}\n",
        r":4: agents\[a\]\.options\.latency_ms: must be at least 0",
    ),
    "yaml syntax": ("agents:\n  - id: a\n    provider: [mock\n", r"axocoatl\.yaml:\d+"),
    "not a mapping": ("- a\n- b\n", r":1: \(top level\): the top level must be a mapping"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_configs_get_a_precise_error(tmp_path: Path, case: str) -> None:
    text, pattern = BROKEN[case]
    config = tmp_path / "axocoatl.yaml"
    config.write_text(textwrap.dedent(text))
    runner = CliRunner()
    for args in (["validate"], ["workflow", "run", "wf", "-i", "x", "--json"]):
        result = runner.invoke(app, ["--config", str(config), "--data-dir", str(tmp_path / "d"), *args])
        assert result.exit_code == 2, (args, result.output)
        assert result.stdout == ""
        assert re.search(pattern, " ".join(result.stderr.split("\n    ")), re.DOTALL), result.stderr
        assert "hint:" in result.stderr or case == "yaml syntax"
    assert not (tmp_path / "d").exists()  # a broken config starts nothing
