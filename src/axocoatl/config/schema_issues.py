"""Every pydantic validation error of a config, as a plain-English ConfigIssue with a fix hint."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from axocoatl.config.fieldpath import data_loc, literal_values, model_at, type_at
from axocoatl.config.schema import ID_PATTERN, AxocoatlConfig
from axocoatl.config.source import ConfigSource
from axocoatl.core.errors import ConfigIssue
from axocoatl.core.suggest import closest, did_you_mean

__all__ = ["schema_issues", "value_words"]

_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "a mapping of key: value pairs",
    "model_type": "a mapping of key: value pairs",
    "model_attributes_type": "a mapping of key: value pairs",
}
_TYPE_HINTS = {
    "a whole number": "write a whole number such as 8080, without quotes or units",
    "a number": "write a number such as 0.5",
    "true or false": "write true or false",
    "a list": "write one item per line as '- item', or inline as [a, b]",
    "a mapping of key: value pairs": "indent 'key: value' lines under this key",
}
_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}
_PATTERN_HINTS = {
    ID_PATTERN: (
        "is not a valid id",
        "ids start with a letter or digit and use only letters, digits, '_', '.', ':' and '-' (no spaces)",
    ),
    r"^\s*\d+\s*[smhd]\s*$": (
        "is not an interval",
        "write a whole number followed by s, m, h or d, for example 30s, 15m, 1h or 1d",
    ),
    r"^[A-Za-z0-9_-]+$": ("is not a valid name", "use only letters, digits, '_' and '-'"),
    r"^https?://.+": ("is not an http(s) URL", "write a URL starting with http:// or https://"),
}


def schema_issues(
    error: ValidationError,
    source: ConfigSource,
    *,
    model: type[BaseModel] | None = None,
    prefix: Sequence[object] = (),
) -> list[ConfigIssue]:
    """Convert every error of ``error``; ``model`` validated the data found at ``prefix`` of ``source``."""
    root = model or AxocoatlConfig
    issues = []
    for details in error.errors(include_url=False):
        message, hint = _explain(details, root)
        loc = data_loc((*prefix, *details["loc"]), source.data, AxocoatlConfig)
        issues.append(source.issue(loc, message, hint=hint))
    return issues


def _explain(details: ErrorDetails, root: type[BaseModel]) -> tuple[str, str | None]:
    kind = details["type"]
    loc = details["loc"]
    value = details.get("input")
    ctx: dict[str, Any] = dict(details.get("ctx") or {})
    key = loc[-1] if loc else None
    if kind == "extra_forbidden":
        owner = model_at(loc[:-1], root)
        fields = list(owner.model_fields) if owner else []
        return f"unknown key '{key}'", did_you_mean(str(key), fields, noun="key")
    if kind == "missing":
        return _missing(loc, root)
    if value is None and kind in _EXPECTED:
        return "has no value", "give it a value, or remove the key to use the default"
    plain = value_words(details)
    if plain is not None:
        return plain
    if kind == "literal_error":
        allowed = [str(v) for v in literal_values(type_at(loc, root))]
        expected = ctx.get("expected", ", ".join(repr(v) for v in allowed))
        what = key if isinstance(key, str) else "value"
        close = closest(str(value), allowed)
        hint = f"did you mean '{close}'? allowed: {expected}" if close else f"use one of: {expected}"
        return f"{_describe(value)} is not a valid {what}", hint
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        words, hint = _PATTERN_HINTS.get(pattern, ("does not have the expected form", f"match the pattern {pattern}"))
        return f"{_describe(value)} {words}", hint
    if kind in ("string_too_short", "too_short"):
        return "must not be empty", "give it a value"
    if kind == "union_tag_invalid":
        tags = str(ctx.get("expected_tags", ""))
        return f"unknown {ctx.get('discriminator', 'type')} {_describe(ctx.get('tag'))}; expected {tags}", (
            did_you_mean(str(ctx.get("tag")), [t.strip(" '") for t in tags.split(",")], noun="type")
        )
    if kind == "union_tag_not_found":
        return f"missing key {ctx.get('discriminator', 'type')}", "say which kind this is, for example type: schedule"
    if kind in ("value_error", "assertion_error"):
        error = ctx.get("error", details["msg"])
        return str(error), getattr(error, "hint", None)  # a ConfigValueError knows its fix
    return details["msg"], None


def value_words(details: ErrorDetails) -> tuple[str, str] | None:
    """A value of the wrong type or out of bounds, in plain words with its fix; None for other errors.

    Also the CLI's words for a bad option value (Typer checks them with pydantic)."""
    kind = details["type"]
    value = details.get("input")
    ctx: dict[str, Any] = dict(details.get("ctx") or {})
    if kind in _EXPECTED:
        expected = _EXPECTED[kind]
        return f"expected {expected}, got {_describe(value)}", _type_hint(expected, value)
    if kind == "finite_number":
        return (
            f"must be a finite number (got {_describe(value)})",
            "write an ordinary number; .inf and .nan are not allowed here",
        )
    if kind in _BOUNDS:
        bound_key, words = _BOUNDS[kind]
        bound = _describe(ctx.get(bound_key))
        return f"must be {words} {bound} (got {_describe(value)})", f"use a value {words} {bound}"
    return None


def _missing(loc: tuple[int | str, ...], root: type[BaseModel]) -> tuple[str, str]:
    key = loc[-1] if loc else "?"
    owner = model_at(loc[:-1], root)
    info = owner.model_fields.get(str(key)) if owner else None
    hint = f"add '{key}: ...'"
    if info is not None and info.description:
        hint += f" ({info.description.rstrip('.')})"
    return f"missing required key '{key}'", hint


def _type_hint(expected: str, value: object) -> str:
    if expected == "text":
        return (
            f"quote the value to make it text: '{value}'"
            if isinstance(value, int | float | bool | date)
            else ("write the value as text")
        )
    if expected == "a list" and isinstance(value, str):
        return f"write it as a list: [{value}]"
    return _TYPE_HINTS.get(expected, f"write {expected}")


def _describe(value: object) -> str:
    if value is None:
        return "nothing"
    if value == "":
        return "an empty value"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."
