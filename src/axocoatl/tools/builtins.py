"""The built-in tools: text helpers (echo, json_keys, text_split), files, shell, web and ask_human."""

from __future__ import annotations

import json
from typing import Any

from axocoatl.core.errors import ToolError
from axocoatl.tools.context import ToolContext
from axocoatl.tools.files import FILE_TOOLS
from axocoatl.tools.human import HUMAN_TOOLS
from axocoatl.tools.registry import Tool
from axocoatl.tools.shell import SHELL_TOOLS
from axocoatl.tools.web import WEB_TOOLS


async def _echo(args: dict[str, Any], ctx: ToolContext) -> Any:
    return args


async def _json_keys(args: dict[str, Any], ctx: ToolContext) -> Any:
    value = args.get("json")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ToolError(f"json_keys: 'json' is not valid JSON ({exc.msg} at position {exc.pos})") from exc
    if not isinstance(value, dict):
        raise ToolError('json_keys: \'json\' must be a JSON object, e.g. {"json": {"a": 1}}')
    return {"keys": list(value)}


async def _text_split(args: dict[str, Any], ctx: ToolContext) -> Any:
    text = args["text"]
    delimiter = args.get("delimiter", "\n")
    if delimiter == "":
        raise ToolError("text_split: 'delimiter' must be a non-empty string")
    parts = text.split(delimiter)
    return {"parts": parts, "count": len(parts)}


TEXT_TOOLS: tuple[Tool, ...] = (
    Tool(
        "echo",
        "Return the arguments unchanged. Useful to check that tool calling works.",
        {"type": "object", "properties": {"text": {"type": "string"}}, "additionalProperties": True},
        _echo,
    ),
    Tool(
        "json_keys",
        "List the top-level keys of a JSON object.",
        {
            "type": "object",
            "properties": {"json": {"description": "A JSON object, or a string containing one."}},
            "required": ["json"],
        },
        _json_keys,
    ),
    Tool(
        "text_split",
        "Split text on a delimiter (default: newline) and return the parts and their count.",
        {
            "type": "object",
            "properties": {"text": {"type": "string"}, "delimiter": {"type": "string", "default": "\n"}},
            "required": ["text"],
        },
        _text_split,
    ),
)

BUILTIN_TOOLS: tuple[Tool, ...] = (*TEXT_TOOLS, *FILE_TOOLS, *SHELL_TOOLS, *WEB_TOOLS, *HUMAN_TOOLS)
