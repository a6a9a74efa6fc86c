"""The public surface of ``axocoatl.config``: sorted ``__all__``, real names, and a light import."""

from __future__ import annotations

import ast
from pathlib import Path

import axocoatl.config as config_pkg


def test_all_is_sorted_and_resolvable() -> None:
    names = config_pkg.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(config_pkg, name), name
    assert {"load_config", "parse_config_text", "LoadedConfig", "config_json_schema", "scaffold_project"} <= set(names)
    assert {
        "AxocoatlConfig",
        "AgentConfig",
        "WorkflowConfig",
        "MockOptions",
        "TokenBudgetConfig",
        "SkillConfig",
    } <= set(names)


def test_croniter_is_imported_lazily() -> None:
    # Checked statically: re-importing the package in-process would duplicate pydantic classes.
    package = Path(config_pkg.__file__).parent
    for module in package.glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(n.split(".")[0] == "croniter" for n in names), f"{module.name} imports croniter eagerly"


def test_layer_rule_config_imports_only_core_and_third_party() -> None:
    package = Path(config_pkg.__file__).parent
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("axocoatl."):
                layer = node.module.split(".")[1]
                assert layer in ("config", "core"), f"{module.name} imports {node.module}"
