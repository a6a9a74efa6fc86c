"""LLM decomposition, pure: the prompts a coordinator sends, and reading subtasks out of the reply.

Models wrap JSON in reasoning (``<think>…</think>``), code fences and prose; the reader cuts the
reasoning, strips a fence, tries the whole text, then the outermost ``[...]`` (or an object with a
``subtasks`` list). Anything still unusable is a PlanningError saying what was wrong with the reply.
"""

from __future__ import annotations

import json
import re
from typing import Any

from axocoatl.coordination.htn import Task
from axocoatl.core.errors import PlanningError

GOAL_SYSTEM = "You decompose tasks into subtasks. Return only valid JSON."
TASK_SYSTEM = "You decompose one task into primitive subtasks. Return only valid JSON."
MAX_SUBTASKS = 12
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def goal_prompt(goal: str, tools: list[str]) -> str:
    offered = ", ".join(tools) if tools else "(none)"
    return (
        "Break the following task into 2-5 independent subtasks. Return ONLY a JSON array of objects with "
        "'name' (snake_case), 'description' and 'tools' (a list of tool names the subtask needs; available: "
        f"{offered}) fields, and optionally 'after' (names of subtasks that must finish first).\n\nTask: {goal}"
    )


def task_prompt(task: Task, goal: str, tools: list[str]) -> str:
    offered = ", ".join(tools) if tools else "(none)"
    return (
        "Decompose this single task into 2-5 concrete, independent primitive subtasks. Return ONLY a JSON array "
        "of objects with 'name' (snake_case), 'description' and 'tools' (available: "
        f"{offered}) fields.\n\nOverall goal: {goal}\nTask: {task.name}\nDetails: {task.description}"
    )


def read_subtasks(reply: str, *, default_description: str) -> list[Task]:
    """The primitive subtasks in a model reply; PlanningError if there are none to read."""
    data = _json_in(reply)
    if isinstance(data, dict) and isinstance(data.get("subtasks"), list):
        data = data["subtasks"]
    if not isinstance(data, list):
        raise PlanningError(
            f"the decomposition reply is JSON but not a list of subtasks (got {type(data).__name__})",
            hint="the model must answer with a JSON array of {name, description, tools}",
        )
    if not data:
        raise PlanningError("the decomposition reply is an empty list", hint="the model returned no subtasks")
    tasks: list[Task] = []
    seen: set[str] = set()
    for index, item in enumerate(data[:MAX_SUBTASKS]):
        if isinstance(item, str):
            item = {"name": item, "description": item}
        if not isinstance(item, dict):
            raise PlanningError(
                f"subtask {index + 1} of the decomposition reply is {type(item).__name__}, not an object",
                hint="each subtask must be {name, description, tools}",
            )
        name = _NAME.sub("_", str(item.get("name") or f"task_{index + 1}")).strip("_") or f"task_{index + 1}"
        while name in seen:
            name = f"{name}_{index + 1}"
        seen.add(name)
        tools = item.get("tools") or []
        if isinstance(tools, str):
            tools = [tools]
        if not isinstance(tools, list):
            tools = []
        after = item.get("after") or []
        if isinstance(after, str):
            after = [after]
        description = str(item.get("description") or default_description)
        parameters: dict[str, Any] = {"description": description, "tools": [str(t) for t in tools if t]}
        tasks.append(Task(name, "Primitive", parameters, tuple(str(a) for a in after if isinstance(a, str))))
    # Only earlier subtasks can be waited for (a reply naming an unknown or later one is not a cycle).
    known: list[str] = []
    cleaned = []
    for task in tasks:
        cleaned.append(Task(task.name, task.task_type, task.parameters, tuple(a for a in task.after if a in known)))
        known.append(task.name)
    return cleaned


def _json_in(reply: str) -> Any:
    text = reply
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    fenced = _FENCE.search(text)
    if fenced is not None:
        text = fenced.group(1)
    text = text.strip()
    if not text:
        raise PlanningError("the decomposition reply is empty", hint="the model must answer with a JSON array")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    for opener, closer in (("[", "]"), ("{", "}")):
        start, end = text.find(opener), text.rfind(closer)
        if start != -1 and end > start:
            try:
                return json.loads(text[start : end + 1])
            except json.JSONDecodeError:
                continue
    head = " ".join(reply.split())[:120]
    raise PlanningError(
        f"the decomposition reply holds no readable JSON: {head!r}",
        hint="the model must answer with a JSON array of {name, description, tools}",
    )
