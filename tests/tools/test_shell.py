"""bash and the background tasks: workspace cwd, timeouts, output caps; the runtime is never harmed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from tests.tools.support import call, error, ok, pipeline

from axocoatl.config.schema import ToolsConfig
from axocoatl.tools.shell import OUTPUT_BYTES

pytestmark = pytest.mark.slow  # subprocesses


async def test_bash_runs_in_the_workspace_and_reports_the_exit_code(tmp_path: Path) -> None:
    tools = pipeline(tmp_path)
    result = await ok(tools, "bash", command="pwd; echo hi > made.txt; echo oops >&2; exit 3")
    assert result == {"exit_code": 3, "output": f"{tmp_path.resolve()}\noops\n"}
    assert (tmp_path / "made.txt").read_text() == "hi\n"
    assert "'command' is empty" in await error(tools, "bash", command="  ")


async def test_bash_does_not_pass_the_runtimes_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    result = await ok(pipeline(tmp_path), "bash", command='echo "[$OPENAI_API_KEY]"; echo $HOME')
    assert result["output"] == f"[]\n{tmp_path.resolve()}\n"


async def test_a_command_that_never_ends_is_killed_with_what_it_started(tmp_path: Path) -> None:
    tools = pipeline(tmp_path, settings=ToolsConfig(bash_timeout_secs=0.5))
    message = await error(tools, "bash", command="(sleep 300; echo late > late.txt) & echo started; sleep 300")
    assert "did not finish within 0.5 s and was killed" in message
    assert "started" in message
    await asyncio.sleep(0.3)
    assert not (tmp_path / "late.txt").exists()
    assert (await ok(tools, "bash", command="echo still fine"))["output"] == "still fine\n"


async def test_a_gigabyte_of_output_is_capped(tmp_path: Path) -> None:
    tools = pipeline(tmp_path, settings=ToolsConfig(max_output_chars=2000))
    record = await call(tools, "bash", command="head -c 1000000000 /dev/zero | tr '\\0' 'y'; echo done")
    # The output is cut so the whole result fits the cap and stays JSON, saying how much was left out.
    assert not record.is_error and len(record.result) <= 2000
    result = json.loads(record.result)
    assert result["exit_code"] == 0
    shown, mark = result["output"].split("\n[truncated: ")
    assert set(shown) == {"y"} and len(shown) > 1800
    kept = max(OUTPUT_BYTES, 2000 * 4)
    assert mark == (
        f"{kept - len(shown)} more characters not shown (limit 2000), "
        f"and {1_000_000_005 - kept} more bytes of output not kept]"
    )


async def test_a_limit_note_survives_an_output_longer_than_the_cap(tmp_path: Path) -> None:
    tools = pipeline(tmp_path, settings=ToolsConfig(max_output_chars=300))
    result = await ok(tools, "bash", command="seq 1 5000; echo 'x: CPU time limit exceeded'; exit 3")
    assert result["exit_code"] == 3
    assert result["limit"] == "a process used up its CPU time (sandbox.limits.cpu_secs)"
    assert result["output"].startswith("1\n2\n3\n") and "more characters not shown (limit 300)]" in result["output"]


async def test_background_tasks_start_report_and_stop(tmp_path: Path) -> None:
    tools = pipeline(tmp_path)
    started = await ok(tools, "bash_background", command="echo ready; sleep 300 &")
    task_id = started["task_id"]
    for _ in range(200):
        out = await ok(tools, "task_output", task_id=task_id)
        if out["output"]:
            break
        await asyncio.sleep(0.01)
    assert out["output"] == "ready\n" and out["status"] == "running"
    assert (await ok(tools, "task_output", task_id=task_id))["output"] == ""  # only what is new
    killed = await ok(tools, "task_kill", task_id=task_id)
    assert killed["killed"] is True
    assert (await ok(tools, "task_output", task_id=task_id))["status"] == "exited"
    assert "no background task 'task-0'" in await error(tools, "task_output", task_id="task-0")
    await tools.env.tasks.aclose()


async def test_another_agents_background_task_is_not_visible(tmp_path: Path) -> None:
    tools = pipeline(tmp_path)
    task_id = (await ok(tools, "bash_background", command="sleep 300"))["task_id"]
    other = pipeline(tmp_path, services=None)
    other.env.tasks = tools.env.tasks
    other.env.agent_id = "intruder"
    assert "no background task" in await error(other, "task_kill", task_id=task_id)
    await tools.env.tasks.aclose()
