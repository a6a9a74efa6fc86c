"""Recovers tool calls that small local models write as text instead of structured calls.

Three shapes are understood, and only for tool names that were offered:

- Hermes / Qwen: ``<tool_call>{"name": "f", "arguments": {...}}</tool_call>``
- Qwen-coder: ``<function=f><parameter=k>v</parameter></function>`` (optionally inside ``<tool_call>``)
- a bare JSON object ``{"name": "f", "arguments": {...}}`` (optionally in a fenced block)

:class:`TextToolFilter` applies the same recovery to a stream: it holds text back from the
first place a call could start, so the recovered markup never reaches the caller.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from axocoatl.core.ids import new_id
from axocoatl.core.messages import ToolCall, ToolSpec
from axocoatl.providers.base import StreamEvent, TextDelta, ToolCallDelta

_TAGGED = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
_FUNCTION = re.compile(r"<function=([^>\s]+)>(.*?)(?:</function>|\Z)", re.DOTALL)
_PARAMETER = re.compile(r"<parameter=([^>\s]+)>(.*?)(?:</parameter>|(?=<parameter=)|\Z)", re.DOTALL)
_FENCE = re.compile(r"```[A-Za-z]*[ \t]*\n?\s*$")
_FENCE_END = re.compile(r"^\s*\n?```")
_CALL_KEYS = frozenset({"name", "arguments", "parameters"})

# Every shape starts with one of these; the stream filter holds text back from the first one.
STARTS = ("<tool_call>", "<function=", "{", "```")


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    call: ToolCall


def recover_tool_calls(text: str, offered: Iterable[str] | Iterable[ToolSpec]) -> tuple[str, list[ToolCall]]:
    """Tool calls written as text, and the text without them. Unoffered names are left alone."""
    specs = {_name(t): t for t in offered}
    if not specs or not text:
        return text, []
    found = _tagged(text, specs)
    taken = [(f.start, f.end) for f in found]
    found += [f for f in _bare_json(text, specs) if not any(s <= f.start < e for s, e in taken)]
    if not found:
        return text, []
    found.sort(key=lambda f: f.start)
    kept, pos = [], 0
    for f in found:
        kept.append(text[pos : f.start])
        pos = f.end
    kept.append(text[pos:])
    return "".join(kept).strip(), [f.call for f in found]


def _name(tool: str | ToolSpec) -> str:
    return tool if isinstance(tool, str) else tool.name


def _tagged(text: str, specs: dict[str, str | ToolSpec]) -> list[_Found]:
    found: list[_Found] = []
    for match in _TAGGED.finditer(text):
        inner = match.group(1).strip()
        if inner.startswith("<function="):
            fn = _FUNCTION.match(inner)
            call = _function_call(fn.group(1), fn.group(2), specs) if fn else None
        else:
            call = _json_call(inner, specs)
        if call is not None:
            found.append(_Found(match.start(), match.end(), call))
    taken = [(f.start, f.end) for f in found]
    for match in _FUNCTION.finditer(text):
        if any(s <= match.start() < e for s, e in taken):
            continue
        call = _function_call(match.group(1), match.group(2), specs)
        if call is not None:
            found.append(_Found(match.start(), match.end(), call))
    return found


def _function_call(name: str, body: str, specs: dict[str, str | ToolSpec]) -> ToolCall | None:
    spec = specs.get(name)
    if spec is None:
        return None
    schema = spec.parameters.get("properties", {}) if isinstance(spec, ToolSpec) else {}
    args: dict[str, Any] = {}
    for param in _PARAMETER.finditer(body):
        key, raw = param.group(1), param.group(2).strip("\n")
        args[key] = _coerce(raw, schema.get(key) if isinstance(schema, dict) else None)
    return ToolCall(id=new_id("call"), name=name, arguments=args)


def _coerce(raw: str, prop: object) -> Any:
    """A ``<parameter>`` value: kept as text for string parameters, else parsed as JSON when it is."""
    declared = prop.get("type") if isinstance(prop, dict) else None
    if declared == "string":
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _json_call(text: str, specs: dict[str, str | ToolSpec]) -> ToolCall | None:
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError:
        return None
    return _call_from_object(value, specs)


def _call_from_object(value: object, specs: dict[str, str | ToolSpec]) -> ToolCall | None:
    if not isinstance(value, dict) or not set(value) <= _CALL_KEYS:
        return None
    name = value.get("name")
    if not isinstance(name, str) or name not in specs:
        return None
    args = value.get("arguments", value.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        return None
    return ToolCall(id=new_id("call"), name=name, arguments=args)


def _bare_json(text: str, specs: dict[str, str | ToolSpec]) -> list[_Found]:
    found: list[_Found] = []
    decoder = json.JSONDecoder()
    pos = text.find("{")
    while pos != -1:
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            pos = text.find("{", pos + 1)
            continue
        call = _call_from_object(value, specs)
        if call is None:
            pos = text.find("{", pos + 1)
            continue
        start = pos
        fence, closing = _FENCE.search(text, 0, start), _FENCE_END.match(text[end:])
        if fence is not None and closing is not None:  # drop a ```json fence around the object
            start, end = fence.start(), end + closing.end()
        found.append(_Found(start, end, call))
        pos = text.find("{", end)
    return found


class TextToolFilter:
    """Streams text through while holding back anything that could be a tool call written as text.

    ``feed`` returns the text that is safe to show now; ``finish`` decides at the end of the
    stream what the held-back text was and returns the closing events (text and/or calls).
    """

    def __init__(self, offered: Sequence[ToolSpec]) -> None:
        self.offered = offered
        self._held = ""
        self._holding = False

    def feed(self, text: str) -> str:
        if not self.offered:
            return text
        self._held += text
        if self._holding:
            return ""
        starts = [i for i in (self._held.find(s) for s in STARTS) if i != -1]
        if starts:
            cut, self._holding = min(starts), True
        else:
            cut = next(
                (i for i in range(len(self._held)) if any(s.startswith(self._held[i:]) for s in STARTS)),
                len(self._held),
            )
        out, self._held = self._held[:cut], self._held[cut:]
        return out

    def finish(self, *, structured_calls: bool) -> tuple[list[StreamEvent], bool]:
        """The events that close the text, and whether tool calls were recovered from it."""
        held, self._held = self._held, ""
        if not held:
            return [], False
        if structured_calls:
            return [TextDelta(held)], False
        text, calls = recover_tool_calls(held, self.offered)
        events: list[StreamEvent] = [TextDelta(text)] if text else []
        events += [
            ToolCallDelta(index=n, id=c.id, name=c.name, arguments=json.dumps(c.arguments)) for n, c in enumerate(calls)
        ]
        return events, bool(calls)
