"""Your own tools in Python: the ``axocoatl.tool`` decorator, and loading the files that use it.

    # tools/weather.py, listed under `tools: {python: [tools/weather.py]}` in axocoatl.yaml
    import axocoatl

    @axocoatl.tool(effect="external", timeout_secs=10)
    async def forecast(city: str, days: int = 3) -> dict:
        \"\"\"The weather forecast of a city for the next days.\"\"\"
        ...

The JSON Schema of the arguments comes from the signature (str, int, float, bool, list, dict;
a parameter with a default is optional), the description from the docstring. A parameter named
``ctx`` receives the ToolContext (workspace, run, deadline…). Plain functions run in a thread.
The decorated function stays callable as before.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from axocoatl.core.errors import ToolError, UsageError
from axocoatl.tools.registry import EFFECTS, Effect, Tool

if TYPE_CHECKING:
    from axocoatl.tools.context import ToolContext

F = TypeVar("F", bound=Callable[..., Any])
MARK = "__axocoatl_tool__"  # the attribute holding a decorated function's Tool (config validation reads it)
_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def tool(
    fn: F | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    effect: Effect = "read",
    timeout_secs: float | None = None,
    parameters: dict[str, Any] | None = None,
    requires_approval: bool = False,
) -> Any:
    """Mark a function as a tool (``@tool`` or ``@tool(effect="write", ...)``).

    ``requires_approval``: each call waits for a person's decision (docs/tools.md#approval)."""
    if effect not in EFFECTS:
        raise ValueError(f"effect must be one of {', '.join(EFFECTS)}, not {effect!r}")

    def mark(func: F) -> F:
        tool_name = name or func.__name__
        doc = inspect.getdoc(func) or ""
        text = description or doc.split("\n\n")[0].strip() or f"The {tool_name} tool."
        schema, wants_ctx = (parameters, _wants_ctx(func)) if parameters is not None else _schema(func)
        handler = _handler(func, wants_ctx)
        made = Tool(
            tool_name,
            text,
            schema,
            handler,
            effect,
            timeout_secs,
            source="python",
            requires_approval=requires_approval,
        )
        setattr(func, MARK, made)
        return func

    return mark(fn) if fn is not None else mark


def _wants_ctx(func: Callable[..., Any]) -> bool:
    return "ctx" in inspect.signature(func).parameters


def _schema(func: Callable[..., Any]) -> tuple[dict[str, Any], bool]:
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable annotations: describe the arguments without types
        hints = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    wants_ctx = False
    for param in inspect.signature(func).parameters.values():
        if param.name == "ctx":
            wants_ctx = True
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        properties[param.name] = _json_type(hints.get(param.name))
        if param.default is param.empty:
            required.append(param.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema, wants_ctx


def _json_type(hint: Any) -> dict[str, Any]:
    if hint in _JSON_TYPES:
        return {"type": _JSON_TYPES[hint]}
    origin = typing.get_origin(hint)
    if hint is list or origin is list:
        args = typing.get_args(hint)
        return {"type": "array", "items": _json_type(args[0])} if args else {"type": "array"}
    if hint is dict or origin is dict:
        return {"type": "object"}
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(hint))}
    members = [a for a in typing.get_args(hint) if a is not type(None)]
    if members and len(members) < len(typing.get_args(hint)):  # Optional[X]
        return _json_type(members[0]) if len(members) == 1 else {}
    return {}


def _handler(func: Callable[..., Any], wants_ctx: bool) -> Callable[[dict[str, Any], ToolContext], Any]:
    async def handler(args: dict[str, Any], ctx: ToolContext) -> Any:
        import asyncio

        kwargs = dict(args, ctx=ctx) if wants_ctx else dict(args)
        try:
            if inspect.iscoroutinefunction(func):
                return await func(**kwargs)
            return await asyncio.to_thread(func, **kwargs)
        except TypeError as exc:
            if "argument" in str(exc):
                raise ToolError(f"tool '{func.__name__}': {exc}") from exc
            raise

    return handler


def tools_of(module: object) -> list[Tool]:
    """The tools a module defines with the decorator, in definition order."""
    found = [getattr(value, MARK) for value in vars(module).values() if isinstance(getattr(value, MARK, None), Tool)]
    return list({t.name: t for t in found}.values())


def load_python_tools(files: list[str], base: Path) -> list[Tool]:
    """Import each file (relative: to ``base``, the config file's directory) and collect its tools."""
    tools: list[Tool] = []
    for entry in files:
        path = (base / entry).resolve()
        module = import_file(path, entry)
        found = tools_of(module)
        if not found:
            raise UsageError(
                f"tools.python: {entry} defines no tool",
                hint="decorate its functions with @axocoatl.tool (see docs/tools.md)",
            )
        tools.extend(found)
    return tools


def import_file(path: Path, shown: str) -> object:
    if not path.is_file():
        raise UsageError(f"tools.python: no file {shown} ({path})", hint="list Python files relative to axocoatl.yaml")
    key = "axocoatl_user_tools_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"tools.python: {shown} is not a Python file", hint="name it *.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[key]
        raise UsageError(
            f"tools.python: importing {shown} failed: {type(exc).__name__}: {exc}", hint="fix the file, then retry"
        ) from exc
    return module
