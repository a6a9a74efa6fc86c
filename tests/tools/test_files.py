"""The file tools, and the workspace they are confined to: escapes are refused with a clear error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.tools.support import error, ok, pipeline


@pytest.fixture
def root(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "src" / "app.py").write_text("def main():\n    return 1\n# TODO tidy\n")
    (work / "README.md").write_text("# Demo\nTODO: write docs\n")
    (tmp_path / "secret.txt").write_text("top secret")
    return work


async def test_read_write_and_list(root: Path) -> None:
    tools = pipeline(root)
    assert await ok(tools, "read_file", path="README.md") == "# Demo\nTODO: write docs\n"
    assert await ok(tools, "read_file", path="src/app.py", offset=2, limit=1) == "    return 1\n"
    written = await ok(tools, "write_file", path="notes/today.md", content="hello")
    assert written == {"ok": True, "path": "notes/today.md", "bytes": 5}
    assert (root / "notes" / "today.md").read_text() == "hello"
    listing = await ok(tools, "list_dir")
    assert [(e["name"], e["type"]) for e in listing["entries"]] == [
        ("README.md", "file"),
        ("notes", "dir"),
        ("src", "dir"),
    ]
    assert "no file 'missing.txt' in the workspace" in await error(tools, "read_file", path="missing.txt")
    assert "is a directory" in await error(tools, "read_file", path="src")


async def test_edit_file_replaces_exactly_one_match(root: Path) -> None:
    tools = pipeline(root)
    (root / "twice.txt").write_text("a b a")
    assert await ok(tools, "edit_file", path="src/app.py", old="return 1", new="return 2") == {
        "ok": True,
        "path": "src/app.py",
        "replaced": 1,
    }
    assert "return 2" in (root / "src" / "app.py").read_text()
    assert "is not in 'src/app.py'" in await error(tools, "edit_file", path="src/app.py", old="nope", new="x")
    assert "occurs 2 times" in await error(tools, "edit_file", path="twice.txt", old="a", new="c")
    assert (root / "twice.txt").read_text() == "a b a"


async def test_grep_and_glob(root: Path) -> None:
    tools = pipeline(root)
    found = await ok(tools, "grep", pattern="TODO")
    assert found["matches"] == ["README.md:2:TODO: write docs", "src/app.py:3:# TODO tidy"]
    assert (await ok(tools, "grep", pattern="todo", ignore_case=True, include="*.py"))["count"] == 1
    assert "not a valid regular expression" in await error(tools, "grep", pattern="(")
    assert (await ok(tools, "glob", pattern="*.py"))["files"] == ["src/app.py"]
    assert (await ok(tools, "glob", pattern="src/**/*.py"))["files"] == ["src/app.py"]
    assert "relative to the workspace" in await error(tools, "glob", pattern="../*")


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("read_file", {"path": "/etc/passwd"}),
        ("read_file", {"path": "../secret.txt"}),
        ("read_file", {"path": "src/../../secret.txt"}),
        ("write_file", {"path": "/etc/axocoatl-test", "content": "x"}),
        ("write_file", {"path": "../escaped.txt", "content": "x"}),
        ("list_dir", {"path": ".."}),
        ("grep", {"pattern": "secret", "path": ".."}),
        ("edit_file", {"path": "../secret.txt", "old": "top", "new": "no"}),
    ],
)
async def test_paths_outside_the_workspace_are_refused(root: Path, tool: str, arguments: dict[str, str]) -> None:
    message = await error(pipeline(root), tool, **arguments)
    assert "absolute path" in message or "leaves the workspace" in message
    assert not (root.parent / "escaped.txt").exists()
    assert not Path("/etc/axocoatl-test").exists()
    assert (root.parent / "secret.txt").read_text() == "top secret"


async def test_symlinks_leading_out_are_refused_and_grep_does_not_follow_them(root: Path) -> None:
    os.symlink(root.parent / "secret.txt", root / "link.txt")
    os.symlink(root.parent, root / "up")
    os.symlink(root / "README.md", root / "inside.md")  # a link that stays inside is fine
    tools = pipeline(root)
    assert "through a symlink that points outside" in await error(tools, "read_file", path="link.txt")
    assert "leaves the workspace" in await error(tools, "write_file", path="up/escaped.txt", content="x")
    assert "leaves the workspace" in await error(tools, "list_dir", path="up")
    assert not (root.parent / "escaped.txt").exists()
    assert (await ok(tools, "read_file", path="inside.md")).startswith("# Demo")
    assert all("secret" not in m for m in (await ok(tools, "grep", pattern="secret"))["matches"])
