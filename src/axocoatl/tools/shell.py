"""The shell tools: bash, bash_background, task_output, task_kill. Commands run through the context's
CommandRunner (the sandbox tier), in the workspace."""

from __future__ import annotations

import signal
from typing import Any

from axocoatl.core.errors import ToolError
from axocoatl.tools.context import ToolContext
from axocoatl.tools.registry import Tool
from axocoatl.tools.results import fit_field

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
    note = limit_note(result.exit_code, output)
    if result.timed_out:
        if result.truncated_bytes:
            output += f"\n[truncated: {result.truncated_bytes} more bytes of output not kept]"
        reached = f"Limit reached: {note}.\n" if note else ""
        raise ToolError(
            f"bash: the command did not finish within {timeout:g} s and was killed (with everything it started). "
            f"{reached}Output so far:\n{output[-4000:]}\nRun long commands with bash_background and poll task_output."
        )
    reply: dict[str, Any] = {"exit_code": result.exit_code, "output": output}
    if note:
        reply["limit"] = note
    unread = f"{result.truncated_bytes} more bytes of output not kept" if result.truncated_bytes else None
    return fit_field(reply, "output", ctx.settings.max_output_chars, unread)


# What bash prints, or the exit code it gives, when a sandbox limit stopped a command.
_LIMITS = (
    (signal.SIGXFSZ, "File size limit exceeded", "a file reached the size limit (sandbox.limits.file_size_mb)"),
    (signal.SIGXCPU, "CPU time limit exceeded", "a process used up its CPU time (sandbox.limits.cpu_secs)"),
)


def limit_note(exit_code: int | None, output: str) -> str | None:
    """Which sandbox limit stopped the command, when one did: the model is told the cause, not only the symptom."""
    notes = []
    for sig, said, note in _LIMITS:
        if exit_code in (128 + sig, -sig) or said in output:
            notes.append(note)
    if "fork: " in output and "Resource temporarily unavailable" in output:
        notes.append("the command reached the process limit (sandbox.limits.max_processes)")
    if any(said in output for said in ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")):
        notes.append("a process may have reached the memory limit (sandbox.limits.memory_mb)")
    return "; ".join(notes) or None


async def _bash_background(args: dict[str, Any], ctx: ToolContext) -> Any:
    command = _command(args).rstrip()
    if command.endswith("&") and not command.endswith("&&"):
        command = command[:-1].rstrip()  # it runs in the background already
    if ctx.tasks.running(ctx.agent_id) >= ctx.tasks.max_tasks:
        raise ToolError(
            f"bash_background: {ctx.tasks.max_tasks} of your background tasks are running; task_kill one first"
        )
    process = await ctx.runner.spawn(command, cwd=ctx.workspace.root)
    task = ctx.tasks.add(ctx.agent_id, command, process, ctx.runner)
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
    await (task.runner or ctx.runner).stop(task.process)
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
