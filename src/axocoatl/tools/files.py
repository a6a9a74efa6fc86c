"""The file tools: read_file, write_file, edit_file, list_dir, grep, glob — all confined to the workspace."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
from pathlib import Path
from typing import Any

from axocoatl.core.errors import ToolError
from axocoatl.tools.context import ToolContext
from axocoatl.tools.registry import Tool

MAX_READ_BYTES = 2_000_000  # read_file refuses larger files (the output cap would hide most of it anyway)
MAX_MATCHES = 500
MAX_ENTRIES = 1000
SKIP_DIRS = frozenset({".git", "node_modules", "__pycache__", ".venv", ".mypy_cache", ".ruff_cache"})


def _read_text(path: Path, shown: str) -> str:
    if not path.exists():
        raise ToolError(f"no file '{shown}' in the workspace; list_dir or glob shows what is there")
    if path.is_dir():
        raise ToolError(f"'{shown}' is a directory; use list_dir to see its entries")
    size = path.stat().st_size
    if size > MAX_READ_BYTES:
        raise ToolError(
            f"'{shown}' is {size} bytes, over the {MAX_READ_BYTES}-byte limit of read_file; grep it instead"
        )
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise ToolError(f"'{shown}' is a binary file; read_file reads text only")
    return data.decode("utf-8", errors="replace")


async def _read_file(args: dict[str, Any], ctx: ToolContext) -> Any:
    shown = args["path"]
    path = ctx.workspace.resolve(shown)
    text = await asyncio.to_thread(_read_text, path, shown)
    offset = int(args.get("offset") or 1)
    limit = args.get("limit")
    if offset > 1 or limit is not None:
        lines = text.splitlines(keepends=True)
        end = len(lines) if limit is None else offset - 1 + int(limit)
        text = "".join(lines[offset - 1 : end])
    return text


def _write(path: Path, content: str, shown: str) -> int:
    if path.is_dir():
        raise ToolError(f"'{shown}' is a directory; give a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode()
    tmp = path.with_name(f".{path.name}.axocoatl-tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return len(data)


async def _write_file(args: dict[str, Any], ctx: ToolContext) -> Any:
    shown = args["path"]
    path = ctx.workspace.resolve(shown)
    size = await asyncio.to_thread(_write, path, args["content"], shown)
    return {"ok": True, "path": ctx.workspace.relative(path), "bytes": size}


async def _edit_file(args: dict[str, Any], ctx: ToolContext) -> Any:
    shown, old, new = args["path"], args["old"], args["new"]
    if old == "":
        raise ToolError("edit_file: 'old' must not be empty; use write_file to create or overwrite a file")
    path = ctx.workspace.resolve(shown)
    text = await asyncio.to_thread(_read_text, path, shown)
    count = text.count(old)
    if count == 0:
        raise ToolError(f"edit_file: the text of 'old' is not in '{shown}'; read_file it and copy the exact text")
    if count > 1:
        raise ToolError(
            f"edit_file: 'old' occurs {count} times in '{shown}'; include more surrounding text so it matches once"
        )
    await asyncio.to_thread(_write, path, text.replace(old, new, 1), shown)
    return {"ok": True, "path": ctx.workspace.relative(path), "replaced": 1}


def _list(path: Path, shown: str, root: Path) -> list[dict[str, Any]]:
    if not path.is_dir():
        raise ToolError(f"'{shown}' is not a directory in the workspace")
    entries = []
    for entry in sorted(os.scandir(path), key=lambda e: e.name)[:MAX_ENTRIES]:
        kind = "link" if entry.is_symlink() else "dir" if entry.is_dir() else "file"
        item: dict[str, Any] = {"name": entry.name, "type": kind}
        if kind == "file":
            item["size"] = entry.stat(follow_symlinks=False).st_size
        entries.append(item)
    return entries


async def _list_dir(args: dict[str, Any], ctx: ToolContext) -> Any:
    shown = args.get("path") or "."
    path = ctx.workspace.resolve(shown)
    entries = await asyncio.to_thread(_list, path, shown, ctx.workspace.root)
    return {"path": ctx.workspace.relative(path), "entries": entries}


def _walk(start: Path, root: Path) -> list[Path]:
    """Files under ``start`` (skipping VCS and cache directories), never following links out of ``root``."""
    if start.is_file():
        return [start]
    found: list[Path] = []
    for current, dirs, files in os.walk(start):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            file = Path(current) / name
            real = Path(os.path.realpath(file))
            if real == root or root in real.parents:
                found.append(file)
    return found


def _grep(pattern: re.Pattern[str], start: Path, root: Path, include: str | None) -> tuple[list[str], bool]:
    lines: list[str] = []
    for file in _walk(start, root):
        if include and not fnmatch.fnmatch(file.name, include):
            continue
        try:
            with file.open("rb") as handle:
                head = handle.read(8192)
                if b"\x00" in head:
                    continue
                data = head + handle.read(MAX_READ_BYTES)
        except OSError:
            continue
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if pattern.search(line):
                lines.append(f"{file.relative_to(root)}:{number}:{line[:400]}")
                if len(lines) >= MAX_MATCHES:
                    return lines, True
    return lines, False


async def _grep_tool(args: dict[str, Any], ctx: ToolContext) -> Any:
    try:
        pattern = re.compile(args["pattern"], re.IGNORECASE if args.get("ignore_case") else 0)
    except re.error as exc:
        raise ToolError(f"grep: 'pattern' is not a valid regular expression: {exc}") from exc
    start = ctx.workspace.resolve(args.get("path") or ".")
    lines, more = await asyncio.to_thread(_grep, pattern, start, ctx.workspace.root, args.get("include"))
    return {"matches": lines, "count": len(lines), "truncated": more}


def _glob(pattern: str, root: Path) -> tuple[list[str], bool]:
    names: list[str] = []
    regex = re.compile(fnmatch.translate(pattern))
    for file in _walk(root, root):
        rel = str(file.relative_to(root))
        if regex.match(rel) or ("/" not in pattern and fnmatch.fnmatch(file.name, pattern)):
            names.append(rel)
            if len(names) >= MAX_ENTRIES:
                return names, True
    return names, False


async def _glob_tool(args: dict[str, Any], ctx: ToolContext) -> Any:
    pattern = args["pattern"]
    if pattern.startswith("/") or ".." in Path(pattern).parts:
        raise ToolError("glob: the pattern must be relative to the workspace, without '..' (e.g. 'src/**/*.py')")
    names, more = await asyncio.to_thread(_glob, pattern.replace("**/", "*"), ctx.workspace.root)
    return {"files": names, "count": len(names), "truncated": more}


_PATH = {"type": "string", "description": "Path relative to the workspace."}

FILE_TOOLS: tuple[Tool, ...] = (
    Tool(
        "read_file",
        "Read a text file of the workspace. Optional offset (first line, from 1) and limit (number of lines).",
        {
            "type": "object",
            "properties": {
                "path": _PATH,
                "offset": {"type": "integer", "minimum": 1},
                "limit": {"type": "integer", "minimum": 1},
            },
            "required": ["path"],
            "additionalProperties": False,
        },
        _read_file,
        timeout_secs=30,
    ),
    Tool(
        "write_file",
        "Create or overwrite a file of the workspace with the given content (parent directories are created).",
        {
            "type": "object",
            "properties": {"path": _PATH, "content": {"type": "string"}},
            "required": ["path", "content"],
            "additionalProperties": False,
        },
        _write_file,
        effect="write",
        timeout_secs=30,
    ),
    Tool(
        "edit_file",
        "Replace the exact text 'old' with 'new' in a file. 'old' must occur exactly once: include enough "
        "surrounding text to make it unique.",
        {
            "type": "object",
            "properties": {"path": _PATH, "old": {"type": "string"}, "new": {"type": "string"}},
            "required": ["path", "old", "new"],
            "additionalProperties": False,
        },
        _edit_file,
        effect="write",
        timeout_secs=30,
    ),
    Tool(
        "list_dir",
        "List a directory of the workspace (default: its root): names, types and sizes.",
        {"type": "object", "properties": {"path": _PATH}, "additionalProperties": False},
        _list_dir,
        timeout_secs=30,
    ),
    Tool(
        "grep",
        "Search files of the workspace for a regular expression; returns path:line:text matches.",
        {
            "type": "object",
            "properties": {
                "pattern": {"type": "string", "description": "A Python regular expression."},
                "path": {"type": "string", "description": "File or directory to search (default: everything)."},
                "include": {"type": "string", "description": "Only files whose name matches, e.g. '*.py'."},
                "ignore_case": {"type": "boolean"},
            },
            "required": ["pattern"],
            "additionalProperties": False,
        },
        _grep_tool,
        timeout_secs=30,
    ),
    Tool(
        "glob",
        "Find files of the workspace by name pattern, e.g. '*.md' or 'src/**/*.py'.",
        {
            "type": "object",
            "properties": {"pattern": {"type": "string"}},
            "required": ["pattern"],
            "additionalProperties": False,
        },
        _glob_tool,
        timeout_secs=30,
    ),
)
