"""Layers import downward only (DESIGN.md): a module never imports from a layer above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "axocoatl"

# Top to bottom, as in DESIGN.md.
LAYERS = [
    "cli",
    "server",
    "runtime",
    "agents",
    "coordination",
    "memory",
    "tools",
    "providers",
    "tokens",
    "protocols",
    "store",
    "config",
    "core",
]
RANK = {name: index for index, name in enumerate(LAYERS)}
# Imports the order alone would allow but that must not exist, with the reason.
APART = {("tools", "providers"): "tool specs are core types (core/messages.py); tools never need a model provider"}
# Pure layers must not do I/O: no network, database or filesystem libraries.
PURE = {"core", "coordination"}
IMPURE_MODULES = {"sqlite3", "aiosqlite", "httpx", "socket", "asyncio", "subprocess", "psycopg", "os", "pathlib"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.relative_to(SRC).parts[0] in RANK)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_flow_downward(path: Path) -> None:
    layer = path.relative_to(SRC).parts[0]
    upward = []
    for line, module in _imports(path):
        parts = module.split(".")
        if parts[0] != "axocoatl" or len(parts) < 2 or parts[1] not in RANK:
            continue
        if RANK[parts[1]] < RANK[layer]:
            upward.append(f"{path.relative_to(SRC)}:{line} imports {module} ({parts[1]} is above {layer})")
        elif (layer, parts[1]) in APART:
            upward.append(f"{path.relative_to(SRC)}:{line} imports {module} ({APART[layer, parts[1]]})")
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize(
    "path", [p for p in _modules() if p.relative_to(SRC).parts[0] in PURE], ids=lambda p: str(p.relative_to(SRC))
)
def test_pure_layers_do_no_io(path: Path) -> None:
    bad = [f"{line}: {module}" for line, module in _imports(path) if module.split(".")[0] in IMPURE_MODULES]
    assert not bad, f"{path.relative_to(SRC)} is in a pure layer but imports {bad}"


def test_every_package_is_a_known_layer() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(RANK), f"unknown layer packages: {packages - set(RANK)}"
