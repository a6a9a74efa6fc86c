"""Editing ``axocoatl.yaml`` in place, keeping every comment, blank line and the order of what is there.

Text-level edits of the ``mcp_servers`` block (`axocoatl mcp add` / `mcp remove`): the block is found by
its indentation, a new entry is appended at its end and a removed one cut out with the comment lines
right above it. Each edit is checked by parsing the result: the server list must be exactly the old one
plus (or minus) the entry, or the edit is refused and the file left alone. A YAML round-trip library
would also keep comments, but only this block is ever edited, and a check by parsing is simpler to trust.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from axocoatl.core.errors import UsageError

KEY = "mcp_servers"
_TOP_KEY = re.compile(r"^[^\s#-][^:]*:")
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./@-]*$")


def add_mcp_server(text: str, entry: dict[str, Any]) -> str:
    """``text`` with ``entry`` appended to its mcp_servers (the section is created when missing)."""
    servers = _servers(text)
    name = entry["name"]
    if any(isinstance(s, dict) and s.get("name") == name for s in servers):
        raise UsageError(
            f"an MCP server named '{name}' is already configured",
            hint=f"remove it first with `axocoatl mcp remove {name}`, or pick another name",
        )
    lines = text.splitlines(keepends=True)
    block = _block(lines)
    if block is None:
        prefix = "" if not text or text.endswith("\n") else "\n"
        edited = text + prefix + f"{KEY}:\n" + _render(entry, "  ")
    else:
        start, end, indent = block
        if indent is None:  # `mcp_servers:` with nothing under it, or `mcp_servers: []`
            _require_block_style(lines[start], empty_ok=True)
            lines[start] = f"{KEY}:\n"
            indent = "  "
        if end > 0 and not lines[end - 1].endswith("\n"):
            lines[end - 1] += "\n"
        lines.insert(end, _render(entry, indent))
        edited = "".join(lines)
    _check(edited, [*servers, entry])
    return edited


def remove_mcp_server(text: str, name: str) -> str:
    """``text`` without the mcp_servers entry called ``name`` (and the comment lines right above it)."""
    servers = _servers(text)
    names = [s.get("name") if isinstance(s, dict) else None for s in servers]
    if name not in names:
        known = ", ".join(str(n) for n in names if n) or "none"
        raise UsageError(f"no MCP server named '{name}' in the config", hint=f"configured: {known}")
    lines = text.splitlines(keepends=True)
    block = _block(lines)
    assert block is not None
    start, end, indent = block
    if indent is None:
        _require_block_style(lines[start], empty_ok=False)
        raise AssertionError("unreachable: a non-empty block list has items")
    items = [i for i in range(start + 1, end) if lines[i].startswith(indent + "-")]
    index = names.index(name)
    if len(items) != len(servers):
        raise UsageError(
            f"cannot find the entries of {KEY} line by line in this file",
            hint=f"remove '{name}' from {KEY} by hand",
        )
    first = items[index]
    last = items[index + 1] if index + 1 < len(items) else end
    while last - 1 > first and _blank_or_comment(lines[last - 1]) and not _inside(lines[last - 1], indent):
        last -= 1  # comments heading the next item stay with it
    while first - 1 > start and lines[first - 1].startswith(indent + "#"):
        first -= 1
    del lines[first:last]
    if len(servers) == 1:
        lines[start] = f"{KEY}: []\n"
    edited = "".join(lines)
    _check(edited, [s for s in servers if not (isinstance(s, dict) and s.get("name") == name)])
    return edited


def _servers(text: str) -> list[Any]:
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise UsageError(f"the config is not valid YAML: {exc}", hint="fix it first (`axocoatl validate`)") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError("the config's top level is not a mapping", hint="fix it first (`axocoatl validate`)")
    servers = data.get(KEY) or []
    if not isinstance(servers, list):
        raise UsageError(f"{KEY} is not a list", hint="fix it first (`axocoatl validate`)")
    return servers


def _block(lines: list[str]) -> tuple[int, int, str | None] | None:
    """(first line, end line, item indent) of the mcp_servers block; indent None when it has no items."""
    start = next((i for i, line in enumerate(lines) if re.match(rf"^{KEY}\s*:", line)), None)
    if start is None:
        return None
    end = len(lines)
    for i in range(start + 1, len(lines)):
        if _TOP_KEY.match(lines[i]):
            end = i
            break
    while end - 1 > start and _blank_or_comment(lines[end - 1]) and not lines[end - 1].startswith((" ", "\t")):
        end -= 1  # a comment at column 0 before the next section belongs to that section
    while end - 1 > start and not lines[end - 1].strip():
        end -= 1
    first_item = next((lines[i] for i in range(start + 1, end) if lines[i].lstrip().startswith("-")), None)
    indent = None if first_item is None else first_item[: len(first_item) - len(first_item.lstrip())]
    return start, end, indent


def _require_block_style(line: str, *, empty_ok: bool) -> None:
    value = line.split(":", 1)[1].split("#", 1)[0].strip()
    if value and not (empty_ok and value == "[]"):
        raise UsageError(
            f"{KEY} is written in flow style ({value[:40]}); this command edits block-style lists only",
            hint=f"edit {KEY} by hand, or rewrite it as a block list (one '- name: ...' entry per server)",
        )


def _blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _inside(line: str, indent: str) -> bool:
    """A comment indented deeper than the items: part of the item above."""
    return line.startswith(indent + " ") and bool(line.strip())


def _scalar(value: Any) -> str:
    """``value`` unquoted when YAML reads it back as the same string (``npx``), else JSON-quoted (``"1"``)."""
    if isinstance(value, str) and _PLAIN.match(value):
        try:
            if yaml.safe_load(f"k: {value}") == {"k": value}:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value, ensure_ascii=False)


def _render(entry: dict[str, Any], indent: str) -> str:
    out = []
    for position, (key, value) in enumerate(entry.items()):
        lead = f"{indent}- " if position == 0 else f"{indent}  "
        if isinstance(value, list):
            rendered = "[" + ", ".join(_scalar(v) for v in value) + "]"
        elif isinstance(value, dict):
            rendered = "{" + ", ".join(f"{_scalar(k)}: {_scalar(v)}" for k, v in value.items()) + "}"
        else:
            rendered = _scalar(value)
        out.append(f"{lead}{key}: {rendered}\n")
    return "".join(out)


def _check(edited: str, expected: list[Any]) -> None:
    if _servers(edited) != expected:
        raise UsageError(
            f"editing {KEY} as text did not give the expected result, so the file was left unchanged",
            hint=f"edit {KEY} by hand",
        )
