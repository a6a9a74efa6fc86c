"""The shell tools: bash, bash_background, task_output, task_kill. Commands run through the context's
CommandRunner (the sandbox tier), in the workspace."""

from __future__ import annotations

from typing import Any

from axocoatl.core.errors import ToolError
from axocoatl.tools.context import ToolContext
from axocoatl.tools.processes import kill_group
from axocoatl.tools.registry import Tool

OUTPUT_BYTES = 4 * 30_000  # bytes kept of a command's output; the result cap applies after decoding


def _command(args: dict[str, Any]) -> str:
    command = args["command"]
    if not command.strip():
        raise ToolError("'command' is empty; give the shell command to run")
    return str(command)


async def _bash(args: dict[str, Any], ctx: ToolContext) -> Any:
    command = _command(args)
    wanted = args.get("timeout_secs")
    timeout = min(float(wanted), ctx.settings.bash_timeout_secs) if wanted else ctx.settings.bash_timeout_secs
    timeout = min(timeout, max(ctx.remaining() - 1.0, 0.1))
    keep = max(OUTPUT_BYTES, ctx.settings.max_output_chars * 4)
    result = await ctx.runner.run(command, cwd=ctx.workspace.root, timeout=timeout, max_output=keep)
    output = result.output
    if result.truncated_bytes:
        output += f"\n[truncated: {result.truncated_bytes} more bytes of output not kept]"
    if result.timed_out:
        raise ToolError(
            f"bash: the command did not finish within {timeout:g} s and was killed (with everything it started). "
            f"Output so far:\n{output[-4000:]}\nRun long commands with bash_background and poll task_output."
        )
    return {"exit_code": result.exit_code, "output": output}


async def _bash_background(args: dict[str, Any], ctx: ToolContext) -> Any:
    command = _command(args).rstrip()
    if command.endswith("&") and not command.endswith("&&"):
        command = command[:-1].rstrip()  # it runs in the background already
    if ctx.tasks.running(ctx.agent_id) >= ctx.tasks.max_tasks:
        raise ToolError(
            f"bash_background: {ctx.tasks.max_tasks} of your background tasks are running; task_kill one first"
        )
    process = await ctx.runner.spawn(command, cwd=ctx.workspace.root)
    task = ctx.tasks.add(ctx.agent_id, command, process)
    return {"task_id": task.task_id, "status": "running", "hint": "read its output with task_output"}


def _task(args: dict[str, Any], ctx: ToolContext) -> Any:
    task = ctx.tasks.get(ctx.agent_id, args["task_id"])
    if task is None:
        known = ", ".join(ctx.tasks.ids(ctx.agent_id)) or "(none)"
        raise ToolError(f"no background task '{args['task_id']}'; your tasks: {known}")
    return task


async def _task_output(args: dict[str, Any], ctx: ToolContext) -> Any:
    task = _task(args, ctx)
    new = bytes(task.output[task.read_upto :])
    task.read_upto = len(task.output)
    code = task.process.returncode
    result: dict[str, Any] = {
        "task_id": task.task_id,
        "status": "running" if code is None else "exited",
        "exit_code": code,
        "output": new.decode("utf-8", errors="replace"),
    }
    if task.dropped:
        result["dropped_bytes"] = task.dropped
    return result


async def _task_kill(args: dict[str, Any], ctx: ToolContext) -> Any:
    task = _task(args, ctx)
    was_running = task.process.returncode is None
    kill_group(task.process)
    await task.process.wait()
    return {"task_id": task.task_id, "killed": was_running, "exit_code": task.process.returncode}


_TASK_ID = {
    "type": "object",
    "properties": {"task_id": {"type": "string"}},
    "required": ["task_id"],
    "additionalProperties": False,
}

SHELL_TOOLS: tuple[Tool, ...] = (
    Tool(
        "bash",
        "Run a shell command (bash) in the workspace and return its exit code and output (stdout and stderr). "
        "Stopped after a timeout; use bash_background for servers and long jobs.",
        {
            "type": "object",
            "properties": {
                "command": {"type": "string"},
                "timeout_secs": {"type": "number", "minimum": 1, "description": "At most the configured limit."},
            },
            "required": ["command"],
            "additionalProperties": False,
        },
        _bash,
        effect="write",
        timeout_secs=3600,  # bounded by tools.bash_timeout_secs, which the handler applies itself
    ),
    Tool(
        "bash_background",
        "Start a shell command in the background in the workspace; returns a task id for task_output and task_kill.",
        {
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
            "additionalProperties": False,
        },
        _bash_background,
        effect="write",
        timeout_secs=30,
    ),
    Tool(
        "task_output",
        "The output a background task printed since the last task_output, and whether it is still running.",
        _TASK_ID,
        _task_output,
        timeout_secs=30,
    ),
    Tool("task_kill", "Stop a background task and everything it started.", _TASK_ID, _task_kill, effect="write"),
)
