"""Runs are isolated, as a user sees it: the same `axocoatl workflow run`, five times in one project
(and the opt-in that shares a conversation across runs).

Each step starts from a context of its own (system prompt, core blocks, its input; recall of
earlier exchanges only when the agent opts in), so a run's prompt does not grow with the runs
before it. The mock makes the request
observable: `{digest}` hashes the whole request (every message, the system prompt with
its memory context included), `{turn}` counts the user turns in it, and the reported
input tokens are the request's, counted with the runtime's tokenizer.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

TASK = "Compare WAL mode and rollback journals in SQLite."
OTHER_TASK = "The launch code is MARMALADE-7; remember it."

# The defaults: no recall in workflow steps.
ISOLATED = """
agents:
  - id: researcher
    provider: mock
    options: {reply: "notes {digest} turn {turn}: {input_head}"}
  - id: writer
    provider: mock
    depends_on: [researcher]
    options: {reply: "draft {digest} turn {turn}"}
workflows:
  - id: write
    agents: [researcher, writer]
consolidation: {enabled: false}
"""

# Passive recall opted into for steps, at most two memories per request.
RECALLING = """
agents:
  - id: researcher
    provider: mock
    memory: {recall: {top_k: 2, in_steps: true}}
    options: {reply: "notes turn {turn}: {input_head}"}
  - id: writer
    provider: mock
    depends_on: [researcher]
    memory: {recall: {top_k: 2, in_steps: true}}
    options: {reply: "draft turn {turn}"}
workflows:
  - id: write
    agents: [researcher, writer]
consolidation: {enabled: false}
"""
TOP_K = 2


def project(directory: Path, yaml_text: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "axocoatl.yaml").write_text(textwrap.dedent(yaml_text))
    return directory


def cli_json(directory: Path, *args: str) -> Any:
    result = run_cli(*args, "--json", cwd=directory, env={"AXOCOATL_EMBEDDER": "hashed"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run(directory: Path, task: str = TASK) -> dict[str, dict[str, Any]]:
    """One `workflow run`; its steps by agent."""
    record = cli_json(directory, "workflow", "run", "write", "-i", task)
    assert record["status"] == "completed", record
    return {step["agent_id"]: step for step in record["steps"]}


def test_five_runs_with_the_defaults_send_the_same_request(tmp_path: Path) -> None:
    directory = project(tmp_path / "p", ISOLATED)
    runs = [run(directory) for _ in range(5)]
    first = runs[0]
    for agent in ("researcher", "writer"):
        assert "turn 1" in first[agent]["output"]  # no conversation history in a step's request
        for later in runs[1:]:
            # The same digest: byte for byte the request of run 1, however many runs came before.
            assert later[agent]["output"] == first[agent]["output"]
            assert later[agent]["tokens"]["input"] == first[agent]["tokens"]["input"]
    report = cli_json(directory, "tokens", "report")
    per_run = sum(step["tokens"]["input"] for step in first.values())
    assert report["totals"]["input"] == 5 * per_run  # flat: run 5 cost what run 1 did
    assert report["totals"]["calls"] == 10


def test_a_run_carries_nothing_of_an_earlier_runs_task(tmp_path: Path) -> None:
    fresh = project(tmp_path / "fresh", ISOLATED)
    used = project(tmp_path / "used", ISOLATED)
    earlier = run(used, OTHER_TASK)
    second = run(used)
    alone = run(fresh)
    assert "MARMALADE" in earlier["researcher"]["output"]
    for agent in ("researcher", "writer"):
        # Byte for byte the request of a project that never saw the first task.
        assert second[agent]["output"] == alone[agent]["output"]
        assert second[agent]["tokens"] == alone[agent]["tokens"]
        assert "MARMALADE" not in (second[agent]["input"] or "")


def test_with_passive_recall_a_run_costs_at_most_its_bounded_recall_more(tmp_path: Path) -> None:
    directory = project(tmp_path / "p", RECALLING)
    runs = [run(directory) for _ in range(5)]
    for agent in ("researcher", "writer"):
        tokens = [r[agent]["tokens"]["input"] for r in runs]
        assert all("turn 1" in r[agent]["output"] for r in runs)  # recall is not history
        one_memory = tokens[1] - tokens[0]
        # Run 2 recalled run 1's exchange (that is how runs learn from each other) ...
        assert one_memory > 0, tokens
        # ... and from run 3 on the recall section is full (top_k memories): the cost stops growing.
        assert tokens[2] == tokens[3] == tokens[4], tokens
        # Each memory is one exchange of this same task, so the section costs at most top_k
        # times the first memory with its header.
        assert tokens[4] - tokens[0] <= TOP_K * one_memory, tokens
        # And whatever the memories: the documented cap, 15 % of the compaction target
        # (85 % of the mock's 32768-token window), plus the separator before the section.
        assert tokens[4] - tokens[0] <= int(int(32768 * 0.85) * 0.15) + 1, tokens


def test_the_support_example_answers_each_customer_from_their_ticket_alone(tmp_path: Path) -> None:
    """examples/customer-support: the second customer's run carries nothing of the first's."""
    example = Path(__file__).resolve().parents[2] / "examples" / "customer-support" / "axocoatl.yaml"
    first_customer = "I was charged twice for my March invoice."
    second_customer = "I was charged twice for my April invoice, order 5521."

    def ticket(directory: Path, text: str) -> dict[str, dict[str, Any]]:
        record = cli_json(directory, "--config", str(example), "--mock", "workflow", "run", "ticket", "-i", text)
        assert record["status"] == "completed", record
        return {step["agent_id"]: step for step in record["steps"]}

    desk, fresh = tmp_path / "desk", tmp_path / "fresh"
    desk.mkdir()
    fresh.mkdir()
    ticket(desk, first_customer)
    second = ticket(desk, second_customer)
    alone = ticket(fresh, second_customer)
    assert list(second) == ["triage", "responder", "reviewer"]
    for agent, step in second.items():
        # The similar earlier ticket would be recalled (and its tokens show) if recall were on.
        assert step["tokens"] == alone[agent]["tokens"], agent
        assert step["output"] == alone[agent]["output"]
        assert "March" not in (step["input"] or "") + (step["output"] or "")


def test_an_agent_opts_its_steps_into_a_shared_thread(tmp_path: Path) -> None:
    """`thread: NAME`: the agent's steps share one conversation across runs, listed like any thread."""
    directory = project(
        tmp_path / "p",
        """
        agents:
          - id: journal
            provider: mock
            thread: journal-log
            memory: {recall: {passive_inject: false}}
            options: {reply: "entry turn {turn}: {input_head}"}
        workflows:
          - id: log
            agents: [journal]
        consolidation: {enabled: false}
        """,
    )

    def entry(task: str) -> str:
        record = cli_json(directory, "workflow", "run", "log", "-i", task)
        assert record["status"] == "completed", record
        return str(record["steps"][0]["output"])

    first, second = entry("first day"), entry("second day")
    threads = cli_json(directory, "agents", "threads", "journal")
    assert first == "entry turn 1: first day"
    assert second == "entry turn 2: second day"  # the second run's request carried the first's turn
    assert [(t["thread"], t["messages"]) for t in threads["threads"]] == [("journal-log", 4)]
