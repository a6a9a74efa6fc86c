"""`axocoatl runs fork|history` through the CLI (in-process runner), with the run JSON contract."""

from __future__ import annotations

import json

from tests.contracts import check_run_contract

from .support import REVIEW, Cli

CHAIN = """
agents:
  - id: researcher
    provider: mock
    options: {reply: "notes on {input_head}"}
  - id: writer
    provider: mock
    depends_on: [researcher]
    options: {reply: "draft from {input_head}"}
  - id: editor
    provider: mock
    depends_on: [writer]
workflows:
  - id: pipe
    agents: [researcher, writer, editor]
"""


def test_history_lists_checkpoints_and_fork_reuses_the_steps_before(cli: Cli) -> None:
    cli.write(CHAIN)
    parent = cli.json("workflow", "run", "pipe", "-i", "topic A", "--json")
    history = cli.json("runs", "history", parent["run_id"], "--json")
    assert [c["step"] for c in history["checkpoints"]] == ["researcher", "writer", "editor"]
    assert [c["seq"] for c in history["checkpoints"]] == [1, 2, 3]
    assert history["checkpoints"][1]["fork_reuses"] == ["researcher"]
    assert history["checkpoints"][0]["output"] == "notes on topic A"

    fork = cli.json("runs", "fork", parent["run_id"], "--from", "writer", "-i", "topic B", "--json")
    check_run_contract(fork)
    assert fork["status"] == "completed"
    assert (fork["parent_run_id"], fork["parent_step"], fork["relation"]) == (parent["run_id"], "writer", "fork")
    assert fork["trigger"] == f"fork:{parent['run_id']}"
    by_id = {s["agent_id"]: s for s in fork["steps"]}
    assert by_id["researcher"]["reused_from"] == parent["run_id"]
    assert by_id["researcher"]["output"] == "notes on topic A"  # kept, not recomputed from topic B
    assert by_id["writer"]["reused_from"] is None and by_id["writer"]["attempts"] == 1
    assert "Original task: topic B" in by_id["writer"]["input"]

    text = cli("runs", "history", fork["run_id"])
    assert text.exit_code == 0, text.output
    assert f"fork of {parent['run_id']} at writer" in text.output
    assert f"reused from {parent['run_id']}" in text.output


def test_fork_errors_name_the_problem(cli: Cli) -> None:
    cli.write(CHAIN)
    parent = cli.json("workflow", "run", "pipe", "-i", "topic A", "--json")
    bad = cli("runs", "fork", parent["run_id"], "--from", "writr")
    assert bad.exit_code == 3
    assert "no step 'writr'" in bad.output and "writer" in bad.output
    missing = cli("runs", "fork", parent["run_id"])
    assert missing.exit_code == 2 and "--from" in missing.output
    assert len(cli.json("runs", "list", "--json")) == 1


def test_workflow_run_without_a_terminal_returns_waiting_and_runs_answer_finishes(cli: Cli) -> None:
    cli.write(REVIEW)
    result = cli("workflow", "run", "pipe", "-i", "tea", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    check_run_contract(data)
    assert data["status"] == "waiting"
    editor = data["steps"][1]
    assert (editor["status"], editor["question"]) == ("waiting", "Publish this draft?")
    assert f"runs answer {data['run_id']} editor -m TEXT" in result.stderr

    plain = cli("runs", "show", data["run_id"])
    assert "editor asks: Publish this draft?" in plain.output
    # The command to run next names this project, so it works from any directory.
    project = f"axocoatl -c {cli.config} --data-dir {cli.data}"
    assert f"answer with: {project} runs answer {data['run_id']} editor -m TEXT" in plain.output

    bad = cli("runs", "answer", data["run_id"], "writer", "-m", "yes")
    assert bad.exit_code == 3 and "is not waiting for an answer" in bad.output and "editor" in bad.output
    done = cli.json("runs", "answer", data["run_id"], "-m", "yes, publish", "--json")
    assert done["status"] == "completed"
    by_id = {s["agent_id"]: s for s in done["steps"]}
    assert by_id["editor"]["answer"] == "yes, publish"
    assert by_id["editor"]["output"].endswith("Human answer: yes, publish")
    assert by_id["writer"]["attempts"] == 1 and by_id["editor"]["attempts"] == 1
    again = cli("runs", "answer", data["run_id"], "-m", "twice")
    assert again.exit_code == 2 and "not waiting for an answer (it is completed)" in again.output


ASKING = """
agents:
  - id: asker
    provider: mock
    tools: [ask_human]
    options: {tool_calls: [{name: ask_human, arguments: {question: "Which colour?"}}], reply: "chose {tool_result}"}
  - id: painter
    provider: mock
    depends_on: [asker]
workflows:
  - id: paint
    agents: [asker, painter]
"""


def test_an_ask_human_question_waits_like_an_interrupt_and_runs_answer_is_the_tool_result(cli: Cli) -> None:
    cli.write(ASKING)
    result = cli("workflow", "run", "paint", "-i", "the shed", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    check_run_contract(data)
    asker = data["steps"][0]
    assert (data["status"], asker["status"], asker["question"]) == ("waiting", "waiting", "Which colour?")
    assert f"runs answer {data['run_id']} asker -m TEXT" in result.stderr
    assert "asker asks: Which colour?" in cli("runs", "show", data["run_id"]).output
    assert [r["status"] for r in cli.json("runs", "list", "--json")] == ["waiting"]

    done = cli.json("runs", "answer", data["run_id"], "asker", "-m", "blue", "--json")
    assert done["status"] == "completed"
    asker, painter = done["steps"]
    assert (asker["output"], asker["answer"], asker["attempts"]) == ("chose blue", "blue", 2)
    assert painter["status"] == "completed" and "chose blue" in painter["input"]
