"""Your own Python tools: the axocoatl.tool decorator, `tools.python` in the config, validate and a run."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from tests.tools.support import error, ok, pipeline

import axocoatl
from axocoatl.config.loader import load_config
from axocoatl.core.errors import ConfigError
from axocoatl.memory.embedding import HashedEmbedder
from axocoatl.runtime.runtime import Runtime
from axocoatl.tools.context import ToolContext
from axocoatl.tools.python_tools import tools_of

TOOLS = '''
import axocoatl

@axocoatl.tool(effect="write")
async def note(text: str, ctx) -> dict:
    """Append a line to notes.txt in the workspace."""
    with open(ctx.workspace.root / "notes.txt", "a") as handle:
        handle.write(text + "\\n")
    return {"ok": True}

@axocoatl.tool
def add(a: int, b: int = 1) -> int:
    """Add two numbers."""
    return a + b
'''


def project(tmp_path: Path, tools: list[str], files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    calls = [{"name": "note", "arguments": {"text": "from the model"}}, {"name": "add", "arguments": {"a": 2}}]
    (tmp_path / "axocoatl.yaml").write_text(
        textwrap.dedent(
            f"""\
            tools:
              python: [my_tools.py]
            agents:
              - id: a
                provider: mock
                tools: {json.dumps(tools)}
                options: {{tool_calls: {json.dumps(calls)}, reply: "done: {{tool_result}}"}}
            """
        )
    )
    return tmp_path / "axocoatl.yaml"


def test_the_decorator_derives_the_schema_and_keeps_the_function(tmp_path: Path) -> None:
    @axocoatl.tool(effect="external", timeout_secs=5)
    async def forecast(city: str, days: int = 3, units: list[str] | None = None, ctx: ToolContext | None = None) -> str:
        """The forecast of a city.

        More text that is not the description."""
        return city

    [tool] = tools_of(SimpleNamespace(forecast=forecast))
    assert tool.name == "forecast" and tool.description == "The forecast of a city."
    assert tool.effect == "external" and tool.timeout_secs == 5 and tool.source == "python"
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "units": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["city"],
        "additionalProperties": False,
    }
    with pytest.raises(ValueError, match="effect must be one of"):
        axocoatl.tool(effect="delete")  # type: ignore[arg-type]


async def test_python_tools_run_in_a_turn_through_the_config(tmp_path: Path) -> None:
    loaded = load_config(project(tmp_path, ["note", "add"], {"my_tools.py": TOOLS}))
    work = tmp_path / "work"
    work.mkdir()
    async with Runtime(loaded.config, data_dir=tmp_path / "data", embedder=HashedEmbedder()) as rt:
        out = await rt.execute("a", "go", workspace=work)
    assert [(r.name, r.result, r.is_error) for r in out.tool_calls] == [
        ("note", '{"ok": true}', False),
        ("add", "3", False),
    ]
    assert (work / "notes.txt").read_text() == "from the model\n"
    assert out.content == "done: 3"


async def test_python_tool_arguments_are_checked(tmp_path: Path) -> None:
    @axocoatl.tool
    def add(a: int, b: int = 1) -> int:
        return a + b

    [tool] = tools_of(SimpleNamespace(add=add))
    tools = pipeline(tmp_path, ["add"], extra=[tool])
    assert await ok(tools, "add", a=1, b=2) == 3
    assert "'a' must be integer, got string" in await error(tools, "add", a="one")


def test_validate_knows_python_tools_and_reports_broken_files(tmp_path: Path) -> None:
    load_config(project(tmp_path, ["note", "add"], {"my_tools.py": TOOLS}))  # valid
    with pytest.raises(ConfigError) as unknown:
        load_config(project(tmp_path, ["note", "ad"], {"my_tools.py": TOOLS}))
    assert "unknown tool 'ad'" in str(unknown.value) and "did you mean 'add'?" in str(unknown.value)
    broken = tmp_path / "broken"
    broken.mkdir()
    with pytest.raises(ConfigError) as failing:
        load_config(project(broken, ["note"], {"my_tools.py": "import nonexistent_module_xyz\n"}))
    assert "importing 'my_tools.py' failed: ModuleNotFoundError" in str(failing.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError) as none:
        load_config(project(empty, ["note"], {"my_tools.py": "X = 1\n"}))
    assert "'my_tools.py' defines no tool" in str(none.value)
