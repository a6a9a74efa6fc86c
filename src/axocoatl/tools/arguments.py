"""Checking a call's arguments against its tool's JSON Schema before the tool runs.

The subset our schemas use (and that models understand): type (incl. a list of types),
properties, required, additionalProperties, enum, const, minimum/maximum, minLength/maxLength,
items, minItems/maxItems. Keywords outside it are ignored, never guessed. Each problem is
described for the model: which argument, what was expected, what came instead.
"""

from __future__ import annotations

from typing import Any

from axocoatl.core.errors import ToolError

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def check_arguments(tool: str, schema: dict[str, Any], arguments: dict[str, Any]) -> None:
    """Raise ToolError listing every way ``arguments`` break ``schema``."""
    problems: list[str] = []
    _check(schema, arguments, "", problems)
    if problems:
        shown = "; ".join(problems[:8]) + ("; …" if len(problems) > 8 else "")
        raise ToolError(f"invalid arguments for tool '{tool}': {shown}. Call it again with corrected arguments.")


def _type_ok(value: Any, expected: str) -> bool:
    kinds = _TYPES.get(expected)
    if kinds is None:
        return True
    if isinstance(value, bool) and expected in ("integer", "number"):
        return False
    if expected == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, kinds)


def _describe(value: Any) -> str:
    for name in ("boolean", "integer", "number", "string", "object", "array", "null"):
        if _type_ok(value, name):
            return name
    return type(value).__name__


def _check(schema: Any, value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(schema, dict):
        return
    label = f"'{where}'" if where else "the arguments"
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_type_ok(value, n) for n in names):
            problems.append(f"{label} must be {' or '.join(map(str, names))}, got {_describe(value)}")
            return
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(repr(c) for c in schema["enum"])
        problems.append(f"{label} must be one of {choices}, got {value!r}")
    if "const" in schema and value != schema["const"]:
        problems.append(f"{label} must be {schema['const']!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{label} must be at least {schema['minimum']}, got {value}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{label} must be at most {schema['maximum']}, got {value}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(f"{label} must have at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{label} must have at most {schema['maxLength']} characters, got {len(value)}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(f"{label} needs at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{label} takes at most {schema['maxItems']} items")
        for index, item in enumerate(value):
            _check(schema.get("items"), item, f"{where}[{index}]", problems)
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name in schema.get("required") or ():
            if name not in value:
                problems.append(f"missing required argument '{_join(where, name)}'")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                _check(properties[name], item, _join(where, name), problems)
            elif extra is False:
                known = ", ".join(properties) or "(none)"
                problems.append(f"unknown argument '{_join(where, name)}' (known: {known})")
            elif isinstance(extra, dict):
                _check(extra, item, _join(where, name), problems)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name
